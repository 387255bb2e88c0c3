/* test_labcert.c - the lab CA and its leaves: what X509_verify_cert and
 * X509_check_host say about each kind, the keys, the extensions, the cache. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "edgeshake/labcert.h"
#include "testlib.h"

#define NAME "shop.example.test"

static struct es_labcerts *certs;

static void setup(void)
{
    certs = es_labcerts_new();
}

static void teardown(void)
{
    es_labcerts_free(certs);
    certs = NULL;
}

/* Verifies leaf (with its issuer as the only untrusted chain element) against
 * a store holding the lab CA; with a name, the hostname is checked too.
 * Returns the X509_V_* result. */
static int verify(struct es_lableaf leaf, const char *host)
{
    X509_STORE *store = X509_STORE_new();
    ck_assert(X509_STORE_add_cert(store, es_labcerts_ca(certs)) == 1);
    STACK_OF(X509) *chain = sk_X509_new_null();
    if (leaf.issuer)
        sk_X509_push(chain, leaf.issuer);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    ck_assert(X509_STORE_CTX_init(ctx, store, leaf.cert, chain) == 1);
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    if (host)
        X509_VERIFY_PARAM_set1_host(param, host, 0);
    int ok = X509_verify_cert(ctx);
    int err = X509_STORE_CTX_get_error(ctx);
    ck_assert_int_eq(ok == 1, err == X509_V_OK);
    X509_STORE_CTX_free(ctx);
    sk_X509_free(chain);
    X509_STORE_free(store);
    return err;
}

static char *subject_cn(X509 *x)
{
    static char buf[256];
    buf[0] = '\0';
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof buf);
    return buf;
}

/* Days from now to t: negative in the past. */
static int days_from_now(const ASN1_TIME *t)
{
    int days, secs;
    ck_assert(ASN1_TIME_diff(&days, &secs, NULL, t) == 1);
    return days;
}

START_TEST(test_ca)
{
    X509 *ca = es_labcerts_ca(certs);
    ck_assert_ptr_nonnull(ca);
    ck_assert_str_eq(subject_cn(ca), "edgeshake lab CA");
    ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(ca), X509_get_issuer_name(ca)), 0);
    /* basicConstraints CA:TRUE, critical; keyUsage keyCertSign. */
    int crit = -1;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
    ck_assert_ptr_nonnull(bc);
    ck_assert_int_ne(bc->ca, 0);
    ck_assert_int_eq(crit, 1);
    BASIC_CONSTRAINTS_free(bc);
    ck_assert(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
    ck_assert_int_eq(X509_check_ca(ca), 1);
    /* ECDSA P-256, self-signed signature that verifies. */
    EVP_PKEY *k = X509_get0_pubkey(ca);
    ck_assert_int_eq(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
    char group[64];
    ck_assert(EVP_PKEY_get_group_name(k, group, sizeof group, NULL) == 1);
    ck_assert_str_eq(group, "prime256v1");
    ck_assert_int_eq(X509_verify(ca, k), 1);
    ck_assert_int_eq(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);
    /* now-1d .. now+10y */
    ck_assert_int_eq(days_from_now(X509_get0_notBefore(ca)), -1);
    int after = days_from_now(X509_get0_notAfter(ca));
    ck_assert_int_ge(after, 3649);
    ck_assert_int_le(after, 3650);
}
END_TEST

START_TEST(test_good_leaf_verifies)
{
    for (int key = ES_KEY_ECDSA; key <= ES_KEY_RSA; key++) {
        struct es_lableaf leaf = es_labcerts_leaf(certs, NAME, ES_CERT_GOOD, key);
        ck_assert_ptr_eq(leaf.issuer, es_labcerts_ca(certs));
        ck_assert_int_eq(verify(leaf, NAME), X509_V_OK);
        ck_assert_int_eq(X509_check_host(leaf.cert, NAME, 0, 0, NULL), 1);
        ck_assert_str_eq(subject_cn(leaf.cert), NAME);
        ck_assert_int_eq(X509_check_private_key(leaf.cert, leaf.key), 1);
        ck_assert_int_eq(X509_get_signature_nid(leaf.cert), NID_ecdsa_with_SHA256);
        /* serverAuth EKU, not a CA, now-1d .. now+1y. */
        ck_assert(X509_get_extension_flags(leaf.cert) & EXFLAG_XKUSAGE);
        ck_assert(X509_get_extended_key_usage(leaf.cert) & XKU_SSL_SERVER);
        ck_assert_int_eq(X509_check_ca(leaf.cert), 0);
        ck_assert_int_eq(days_from_now(X509_get0_notBefore(leaf.cert)), -1);
        int after = days_from_now(X509_get0_notAfter(leaf.cert));
        ck_assert_int_ge(after, 364);
        ck_assert_int_le(after, 365);
    }
}
END_TEST

/* cert=NAME:expiring: verifies now, ends in 9.5 days (cert_days_left 9). */
START_TEST(test_expiring_leaf)
{
    struct es_lableaf leaf = es_labcerts_leaf(certs, NAME, ES_CERT_EXPIRING, ES_KEY_ECDSA);
    ck_assert_int_eq(verify(leaf, NAME), X509_V_OK);
    ck_assert_int_eq(days_from_now(X509_get0_notBefore(leaf.cert)), -1);
    int after = days_from_now(X509_get0_notAfter(leaf.cert));
    ck_assert_int_ge(after, 9);
    ck_assert_int_le(after, 10);
    struct es_lableaf good = es_labcerts_leaf(certs, NAME, ES_CERT_GOOD, ES_KEY_ECDSA);
    ck_assert_ptr_ne(good.cert, leaf.cert);
}
END_TEST

START_TEST(test_san_is_the_name)
{
    struct es_lableaf leaf = es_labcerts_leaf(certs, NAME, ES_CERT_GOOD, ES_KEY_ECDSA);
    GENERAL_NAMES *san = X509_get_ext_d2i(leaf.cert, NID_subject_alt_name, NULL, NULL);
    ck_assert_ptr_nonnull(san);
    ck_assert_int_eq(sk_GENERAL_NAME_num(san), 1);
    GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, 0);
    ck_assert_int_eq(gn->type, GEN_DNS);
    ck_assert_str_eq((const char *)ASN1_STRING_get0_data(gn->d.dNSName), NAME);
    GENERAL_NAMES_free(san);
    ck_assert_int_ne(X509_check_host(leaf.cert, "other.example.test", 0, 0, NULL), 1);
}
END_TEST

START_TEST(test_expired)
{
    struct es_lableaf leaf = es_labcerts_leaf(certs, NAME, ES_CERT_EXPIRED, ES_KEY_ECDSA);
    ck_assert_int_eq(verify(leaf, NAME), X509_V_ERR_CERT_HAS_EXPIRED);
    ck_assert_int_eq(days_from_now(X509_get0_notBefore(leaf.cert)), -30);
    ck_assert_int_eq(days_from_now(X509_get0_notAfter(leaf.cert)), -1);
}
END_TEST

START_TEST(test_future)
{
    struct es_lableaf leaf = es_labcerts_leaf(certs, NAME, ES_CERT_FUTURE, ES_KEY_ECDSA);
    ck_assert_int_eq(verify(leaf, NAME), X509_V_ERR_CERT_NOT_YET_VALID);
    int before = days_from_now(X509_get0_notBefore(leaf.cert));
    ck_assert_int_ge(before, 29);
    ck_assert_int_le(before, 30);
}
END_TEST

START_TEST(test_wrong)
{
    struct es_lableaf leaf = es_labcerts_leaf(certs, NAME, ES_CERT_WRONG, ES_KEY_ECDSA);
    ck_assert_int_ne(X509_check_host(leaf.cert, NAME, 0, 0, NULL), 1);
    ck_assert_int_eq(X509_check_host(leaf.cert, "wrong." NAME ".invalid", 0, 0, NULL), 1);
    /* The chain itself is fine: only the name is wrong. */
    ck_assert_int_eq(verify(leaf, NULL), X509_V_OK);
    ck_assert_int_eq(verify(leaf, NAME), X509_V_ERR_HOSTNAME_MISMATCH);
}
END_TEST

START_TEST(test_selfsigned)
{
    struct es_lableaf leaf = es_labcerts_leaf(certs, NAME, ES_CERT_SELFSIGNED, ES_KEY_ECDSA);
    ck_assert_ptr_null(leaf.issuer);
    ck_assert_int_eq(
        X509_NAME_cmp(X509_get_subject_name(leaf.cert), X509_get_issuer_name(leaf.cert)), 0);
    ck_assert_int_eq(X509_verify(leaf.cert, leaf.key), 1);
    ck_assert_int_eq(verify(leaf, NAME), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
    ck_assert_int_eq(X509_check_host(leaf.cert, NAME, 0, 0, NULL), 1);
}
END_TEST

START_TEST(test_rsa_key)
{
    struct es_lableaf leaf = es_labcerts_leaf(certs, NAME, ES_CERT_GOOD, ES_KEY_RSA);
    EVP_PKEY *k = X509_get0_pubkey(leaf.cert);
    ck_assert_int_eq(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA);
    ck_assert_int_eq(EVP_PKEY_get_bits(k), 2048);
    ck_assert_int_eq(EVP_PKEY_get_base_id(leaf.key), EVP_PKEY_RSA);
}
END_TEST

START_TEST(test_ecdsa_key)
{
    struct es_lableaf leaf = es_labcerts_leaf(certs, NAME, ES_CERT_GOOD, ES_KEY_ECDSA);
    EVP_PKEY *k = X509_get0_pubkey(leaf.cert);
    ck_assert_int_eq(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
    char group[64];
    ck_assert(EVP_PKEY_get_group_name(k, group, sizeof group, NULL) == 1);
    ck_assert_str_eq(group, "prime256v1");
}
END_TEST

START_TEST(test_cache)
{
    struct es_lableaf a = es_labcerts_leaf(certs, NAME, ES_CERT_GOOD, ES_KEY_ECDSA);
    struct es_lableaf b = es_labcerts_leaf(certs, NAME, ES_CERT_GOOD, ES_KEY_ECDSA);
    struct es_lableaf c = es_labcerts_leaf(certs, NAME, ES_CERT_EXPIRED, ES_KEY_ECDSA);
    struct es_lableaf d = es_labcerts_leaf(certs, "other.test", ES_CERT_GOOD, ES_KEY_ECDSA);
    struct es_lableaf r1 = es_labcerts_leaf(certs, NAME, ES_CERT_GOOD, ES_KEY_RSA);
    struct es_lableaf r2 = es_labcerts_leaf(certs, "other.test", ES_CERT_WRONG, ES_KEY_RSA);
    /* Same (name, kind, key): the same certificate. */
    ck_assert_ptr_eq(a.cert, b.cert);
    ck_assert_ptr_ne(a.cert, c.cert);
    ck_assert_ptr_ne(a.cert, d.cert);
    ck_assert_ptr_ne(a.cert, r1.cert);
    /* One key per key type, shared by every leaf of that type. */
    ck_assert_ptr_eq(a.key, c.key);
    ck_assert_ptr_eq(a.key, d.key);
    ck_assert_ptr_eq(r1.key, r2.key);
    ck_assert_ptr_ne(a.key, r1.key);
    /* Random serials: two leaves never share one. */
    ck_assert_int_ne(
        ASN1_INTEGER_cmp(X509_get0_serialNumber(a.cert), X509_get0_serialNumber(d.cert)), 0);
}
END_TEST

START_TEST(test_long_name)
{
    /* Longer than the 64-character CN limit: still a leaf, named by its SAN. */
    const char *name = "a-very-long-label-that-goes-on-and-on.another-long-label-here."
                       "example.test";
    ck_assert_int_gt((int)strlen(name), 64);
    struct es_lableaf leaf = es_labcerts_leaf(certs, name, ES_CERT_GOOD, ES_KEY_ECDSA);
    ck_assert_int_eq(verify(leaf, name), X509_V_OK);
}
END_TEST

START_TEST(test_write_ca)
{
    char *dir = tl_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/ca.crt", dir);
    ck_assert_int_eq(es_labcerts_write_ca(certs, path), 0);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(X509_cmp(x, es_labcerts_ca(certs)), 0);
    X509_free(x);
    snprintf(path, sizeof path, "%s/missing/ca.crt", dir);
    ck_assert_int_eq(es_labcerts_write_ca(certs, path), -ENOENT);
    tl_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("labcert");
    TCase *tc = tcase_create("certs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ca);
    tcase_add_test(tc, test_good_leaf_verifies);
    tcase_add_test(tc, test_san_is_the_name);
    tcase_add_test(tc, test_expiring_leaf);
    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_future);
    tcase_add_test(tc, test_wrong);
    tcase_add_test(tc, test_selfsigned);
    tcase_add_test(tc, test_rsa_key);
    tcase_add_test(tc, test_ecdsa_key);
    tcase_add_test(tc, test_cache);
    tcase_add_test(tc, test_long_name);
    tcase_add_test(tc, test_write_ca);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
