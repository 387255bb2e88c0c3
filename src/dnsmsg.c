/* dnsmsg.c - placeholder until the DNS message module lands. */
#include "edgeshake/util.h"
