#!/bin/sh
# t/1075-convert-realmail-long.sh (make check-long): the differential oracle
# of t/1070 over a sweep of seeds, 1,000 messages per style and seed.
# REALMAIL_SEEDS overrides the sweep.
: "${REALMAIL_SEEDS:=2 3 4 5 6 7 8 9 10 11}"
: "${REALMAIL_COUNT:=1000}"
export REALMAIL_SEEDS REALMAIL_COUNT
exec sh "${T_SRCDIR:-$(dirname "$0")}/1070-convert-realmail.sh"
