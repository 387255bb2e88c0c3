/* test_corpus.c - replays every file of tests/corpus/TARGET/ through the fuzz
 * targets' own entry points (tests/fuzz/fuzz_TARGET.c, compiled here with
 * gcc and without libFuzzer), so the seed corpus and every crash a fuzzer
 * found (kept as regress-*) run in the normal ./dev test.
 *
 * Each entry point checks its invariants (a failure aborts) and returns 1
 * for an input it accepted, 0 for one it rejected with an error. File names
 * say which to expect: ok-* must be accepted, bad-* rejected; regress-*
 * (fuzzer finds) only have to pass the invariants. */
#define ES_FUZZ_NO_MAIN
#include "fuzz/fuzz_dnsmsg.c"
#include "fuzz/fuzz_labspec.c"
#include "fuzz/fuzz_scanread.c"
#include "fuzz/fuzz_target.c"

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

static const struct {
    const char *name;
    int (*run)(const uint8_t *data, size_t len);
} targets[] = {
    {"target", es_fuzz_target},
    {"labspec", es_fuzz_labspec},
    {"scanread", es_fuzz_scanread},
    {"dnsmsg", es_fuzz_dnsmsg},
};
#define NTARGETS (sizeof targets / sizeof targets[0])

/* Every corpus file, found before the tests fork. */
struct corpus_file {
    size_t target;
    char *path;
    const char *base;
};
static struct corpus_file *files;
static size_t nfiles;
static size_t per_target[NTARGETS][3]; /* ok, bad, regress */

static int visible(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

static void collect(void)
{
    for (size_t t = 0; t < NTARGETS; t++) {
        char *dir;
        if (asprintf(&dir, "%s/tests/corpus/%s", tl_srcdir(), targets[t].name) < 0)
            abort();
        struct dirent **list;
        int n = scandir(dir, &list, visible, alphasort);
        for (int i = 0; i < n; i++) {
            files = realloc(files, (nfiles + 1) * sizeof *files);
            struct corpus_file *f = &files[nfiles++];
            f->target = t;
            if (asprintf(&f->path, "%s/%s", dir, list[i]->d_name) < 0)
                abort();
            f->base = strrchr(f->path, '/') + 1;
            if (strncmp(f->base, "ok-", 3) == 0)
                per_target[t][0]++;
            else if (strncmp(f->base, "bad-", 4) == 0)
                per_target[t][1]++;
            else
                per_target[t][2]++;
            free(list[i]);
        }
        if (n >= 0)
            free(list);
        free(dir);
    }
}

/* Names the input when an invariant aborts (or the parser crashes). */
static const char *current;
static void on_crash(int sig)
{
    if (current) {
        static const char what[] = "test_corpus: crashed on ";
        ssize_t unused = write(2, what, sizeof what - 1);
        unused = write(2, current, strlen(current));
        unused = write(2, "\n", 1);
        (void)unused;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Every target has a seed corpus: valid and invalid inputs. */
START_TEST(test_corpus_present)
{
    for (size_t t = 0; t < NTARGETS; t++) {
        ck_assert_msg(per_target[t][0] >= 3, "tests/corpus/%s: %zu ok-* seeds, want 3 or more",
                      targets[t].name, per_target[t][0]);
        ck_assert_msg(per_target[t][1] >= 3, "tests/corpus/%s: %zu bad-* seeds, want 3 or more",
                      targets[t].name, per_target[t][1]);
        for (size_t i = 0; i < nfiles; i++)
            if (files[i].target == t) {
                const char *b = files[i].base;
                ck_assert_msg(strncmp(b, "ok-", 3) == 0 || strncmp(b, "bad-", 4) == 0 ||
                                  strncmp(b, "regress-", 8) == 0,
                              "%s: name it ok-*, bad-* or regress-*", files[i].path);
            }
    }
}
END_TEST

START_TEST(test_corpus_file)
{
    const struct corpus_file *f = &files[_i];
    size_t len;
    char *data = tl_read_file(f->path, &len);
    ck_assert_msg(data != NULL, "cannot read %s", f->path);
    current = f->path;
    signal(SIGABRT, on_crash);
    signal(SIGSEGV, on_crash);
    int accepted = targets[f->target].run((const uint8_t *)data, len);
    current = NULL;
    if (strncmp(f->base, "ok-", 3) == 0)
        ck_assert_msg(accepted == 1, "%s: rejected, expected a valid input", f->path);
    else if (strncmp(f->base, "bad-", 4) == 0)
        ck_assert_msg(accepted == 0, "%s: accepted, expected an error", f->path);
    free(data);
}
END_TEST

int main(void)
{
    collect();
    Suite *s = suite_create("corpus");
    TCase *tc = tcase_create("replay");
    tcase_add_test(tc, test_corpus_present);
    tcase_add_loop_test(tc, test_corpus_file, 0, (int)nfiles);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].path);
    free(files);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
