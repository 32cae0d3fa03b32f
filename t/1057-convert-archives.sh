#!/bin/sh
# Archives and compressed files wherever a mailbox may be (mailshift-
# convert(1) "Compressed mailboxes"): a tar or zip of a folder holding one
# mbox converts that mbox (its directories are no second file); an archive
# of two files is refused before a message is delivered (from a pipe, the
# first file's messages read before the second is met are, and a rerun on
# the extracted files takes the rest once); check and repair refuse every compressed file
# and archive, and leave it as it was (repair would write into it);
# convert -r takes compressed mboxes of a tree; --compress with a DEST
# that would be a Maildir is a usage error; a compressed mbox that breaks
# off (truncated) converts the messages before the break and exits 65
# with one line naming the decompressed offset, but for .Z data, which
# cannot tell (read as far as it goes, exit 0); a gzip file whose CRC
# does not match (a flipped bit) or that has bytes after its gzip data (an
# mbox appended to it) exits 65, not 0; zero padding and concatenated
# gzip members are whole.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need gzip
need tar
need zip
need lz4
need xz
need zstd
need compress
cd "$TMP" || exit 99

cp "$DATA/sample.mbox" s.mbox
"$MAILSHIFT" convert -q s.mbox plain || fail "the plain mbox: exit $?"
n=$(count_files plain/new plain/cur)
check "the plain mbox: $n messages" test "$n" -ge 40

# a folder archived whole
mkdir Mail && cp s.mbox Mail/INBOX
tar cf dir.tar Mail
zip -q -r dir.zip Mail
tar czf dir.tgz Mail
for a in dir.tar dir.zip dir.tgz; do
	expect_status "$a (a folder holding one mbox): exit" 0 "$MAILSHIFT" convert -q "$a" "$a.md"
	expect_eq "$a: every message of the mbox" "$(count_files "$a.md/new" "$a.md/cur")" "$n"
	expect_eq "$a: the same messages" "$(maildir_sums "$a.md")" "$(maildir_sums plain)"
done

# two files, the first empty: refused, whatever the first holds
: >empty.mbox
tar cf two.tar empty.mbox s.mbox
expect_status "a tar of two files (the first empty): exit 65" 65 "$MAILSHIFT" convert -q two.tar two.md
check "it says so" grep -q "two.tar: the archive holds more than one file" "$TMP/.err"
zip -q two.zip s.mbox Mail/INBOX
expect_status "a zip of two files: exit 65" 65 "$MAILSHIFT" convert -q two.zip two2.md
check "it says so" grep -q "two.zip: the archive holds more than one file" "$TMP/.err"
# a file is counted through before a message is delivered, however large
# its first file; a pipe is read once: its second file is met after the
# first, whose messages read by then are delivered, and a rerun on the
# extracted files takes the rest and nothing twice
python3 "$T_SRCDIR/gen-mbox.py" 1500 5 6000 >big.mbox
big=$(grep -c '^From ' big.mbox)
check "the first file is past the reader's buffer ($(wc -c <big.mbox) bytes)" \
	test "$(wc -c <big.mbox)" -gt $((4 * 1024 * 1024))
tar cf bigtwo.tar big.mbox empty.mbox
zip -q bigtwo.zip big.mbox empty.mbox
gzip -c bigtwo.tar >bigtwo.tar.gz
for f in bigtwo.tar bigtwo.zip bigtwo.tar.gz; do
	expect_status "$f, a large file and a second: exit 65" 65 "$MAILSHIFT" convert -q "$f" "$f.md"
	check "$f: it says so" grep -q "^mailshift convert: error: $f: the archive holds more than one file" "$TMP/.err"
	expect_eq "$f: nothing delivered" "$(count_files "$f.md/new" "$f.md/cur")" 0
done
expect_status "the tar as standard input, a file: exit 65" 65 sh -c '"$0" convert -q - bigtwo-in.md <bigtwo.tar' "$MAILSHIFT"
expect_eq "the tar as standard input, a file: nothing delivered" "$(count_files bigtwo-in.md/new bigtwo-in.md/cur)" 0
expect_status "the tar from a pipe: exit 65" 65 sh -c 'cat bigtwo.tar | "$0" convert -q - bigtwo.md' "$MAILSHIFT"
check "the tar from a pipe: it says so, with the offset where the second file was met" \
	grep -q "<stdin>:$(wc -c <big.mbox | tr -d ' '): the archive holds more than one file" "$TMP/.err"
got=$(count_files bigtwo.md/new bigtwo.md/cur)
check "the tar from a pipe: the messages read before it are delivered ($got of $big)" \
	test "$got" -gt 0 -a "$got" -lt "$big"
"$MAILSHIFT" convert big.mbox bigtwo.md 2>"$TMP/.err" || fail "the extracted file: exit $?"
expect_eq "the extracted file: the rest, nothing twice" \
	"$(count_files bigtwo.md/new bigtwo.md/cur)" "$big"
check "the extracted file: it says how many were there already" \
	grep -q "$big messages (mboxrd): $((big - got)) delivered, $got already in bigtwo.md" "$TMP/.err"

# check and repair: never into an archive or a compressed file
tar cf s.tar s.mbox
gzip -c s.mbox >s.mbox.gz
lz4 -q -c s.mbox >s.mbox.lz4
zip -q -j s.zip s.mbox
for f in s.tar s.mbox.gz s.mbox.lz4 s.zip; do
	cp "$f" "$f.orig"
	expect_status "check $f: exit 65" 65 "$MAILSHIFT" check "$f"
	check "check $f: says why" grep -q "$f: compressed or an archive" "$TMP/.err"
	expect_status "repair $f: exit 65" 65 "$MAILSHIFT" repair "$f"
	check "repair $f: says why" grep -q "$f: compressed or an archive" "$TMP/.err"
	check "repair $f: the file is as it was" cmp -s "$f" "$f.orig"
done

# convert -r: a tree's compressed mboxes are mboxes
mkdir -p tree/sub
cp s.mbox tree/INBOX
gzip -c s.mbox >tree/Archive.gz
zip -q -j tree/sub/Old.zip s.mbox
printf 'not mail\n' >tree/notes.txt
expect_status "convert -r of a tree with compressed mboxes: exit 0" 0 "$MAILSHIFT" convert -r tree tout
expect_eq "tree: INBOX has every message" "$(count_files tout/new tout/cur)" "$n"
expect_eq "tree: every message of the three mboxes" \
	"$(find tout -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l | tr -d ' ')" $((3 * n))
expect_eq "tree: three folders with messages" \
	"$(find tout -type f \( -path '*/new/*' -o -path '*/cur/*' \) | sed 's|/[^/]*/[^/]*$||' | sort -u | wc -l | tr -d ' ')" 3
check "tree: the text file is named as left out" grep -q "tree/notes.txt: left out: not an mbox" "$TMP/.err"

# --compress writes an mbox: a DEST that would be a Maildir is refused
expect_status "--compress with a DEST that would be a Maildir: exit 64" 64 \
	"$MAILSHIFT" convert -q --compress=gzip s.mbox newdest
check "it says how to name it" grep -q "give --to=mbox" "$TMP/.err"
check "nothing created" test ! -e newdest
# --- a compressed mbox that breaks off: what comes before is converted -------
# (the download or the copy was cut short: half of the compressed file)
python3 "$T_SRCDIR/gen-mbox.py" 200 3 3000 >cut.mbox
for c in gzip xz zstd; do
	"$c" -c cut.mbox >"cut.$c"
	sz=$(wc -c <"cut.$c")
	head -c $((sz / 2)) "cut.$c" >"half.$c"
	expect_status "$c cut in half: exit 65 (bad data, not an I/O error)" 65 \
		"$MAILSHIFT" convert -q "half.$c" "half-$c.md"
	expect_eq "$c cut in half: one line" "$(wc -l <"$TMP/.err" | tr -d ' ')" 1
	off=$(sed -n "s/^mailshift convert: error: half\.$c:\([0-9]*\): .*/\1/p" "$TMP/.err")
	check "$c cut in half: the line names the offset where the data ends ($off)" \
		test -n "$off"
	# what the decompressor itself gives (the oracle), and the offset is
	# inside it: at most one 64 KiB block of it is lost
	"$c" -dc "half.$c" >"half-$c.out" 2>/dev/null
	got=$(wc -c <"half-$c.out" | tr -d ' ')
	check "$c cut in half: the offset ($off) within the last 64 KiB of the $got bytes $c gives" \
		test "${off:-0}" -le "$got" -a "${off:-0}" -gt $((got - 65536 * 2))
	# every message that ends before the offset is converted, byte for byte
	head -c "${off:-0}" cut.mbox >"before-$c.mbox"
	whole=$(($(grep -c '^From ' "before-$c.mbox") - 1))
	expect_eq "$c cut in half: the $whole messages before the break" \
		"$(count_files "half-$c.md/new" "half-$c.md/cur")" "$whole"
	check "$c cut in half: more than the first block's messages" test "$whole" -gt 40
done
# compress(1) data has no end marker, length or checksum: cut at a code
# boundary it reads as whole, to uncompress(1) too (the oracle), and what
# it holds is read as far as it goes
compress -c cut.mbox >cut.Z
sz=$(wc -c <cut.Z)
head -c $((sz / 2)) cut.Z >half.Z
uncompress -c half.Z >half-Z.out
expect_status ".Z cut in half: uncompress(1) cannot tell either" 0 sh -c 'uncompress -c half.Z >/dev/null'
expect_status ".Z cut in half: exit 0" 0 "$MAILSHIFT" convert -q half.Z half-Z.md
expect_eq ".Z cut in half: the messages of what uncompress(1) gives" \
	"$(count_files half-Z.md/new half-Z.md/cur)" "$(grep -c '^From ' half-Z.out)"
"$MAILSHIFT" convert -q half-Z.out half-Z.plain || fail "half-Z.out: exit $?"
expect_eq ".Z cut in half: the same messages as the bytes uncompress(1) gives" \
	"$(maildir_digests half-Z.md)" "$(maildir_digests half-Z.plain)"

# --- gzip checked: CRC-32, and what follows the gzip data ---------------------
n=$(grep -c '^From ' cut.mbox)
# a bit flipped in the middle: libarchive does not check the CRC
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 0x10; open(sys.argv[2], "wb").write(bytes(b))' cut.gzip flip.gz
check "the flipped gzip is bad to gzip itself" sh -c '! gzip -t flip.gz 2>/dev/null'
expect_status "a gzip with a flipped bit: exit 65" 65 "$MAILSHIFT" convert -q flip.gz flip.md
check "it says the data is corrupt" grep -q "^mailshift convert: error: flip.gz:[0-9]*: corrupt gzip data" "$TMP/.err"
expect_status "stats of it: exit 65" 65 "$MAILSHIFT" stats flip.gz
# an mbox appended to a gzip file: the gzip part converted, the rest named
sed 's/^From \([a-z]*\)@/From x\1@/; s/^Message-ID: </Message-ID: <x/' cut.mbox >tail.mbox
cat cut.gzip tail.mbox >appended.gz
expect_status "an mbox appended to a gzip file: exit 65" 65 "$MAILSHIFT" convert -q appended.gz app.md
check "it names the bytes after the gzip data" \
	grep -q "appended.gz:$(wc -c <cut.mbox | tr -d ' '): data after the end of the gzip data, at byte $(wc -c <cut.gzip | tr -d ' ') of the compressed file" "$TMP/.err"
expect_eq "every message of the gzip part" "$(count_files app.md/new app.md/cur)" "$n"
# zero padding after the data (tape blocks) and concatenated members are fine
{ cat cut.gzip; head -c 20000 /dev/zero; } >padded.gz
expect_status "a gzip file with zero padding: exit 0" 0 "$MAILSHIFT" convert -q padded.gz pad.md
expect_eq "padded: every message" "$(count_files pad.md/new pad.md/cur)" "$n"
{ gzip -c cut.mbox; gzip -c tail.mbox; } >members.gz
expect_status "two gzip members: exit 0" 0 "$MAILSHIFT" convert -q members.gz mem.md
expect_eq "two members: every message of both" "$(count_files mem.md/new mem.md/cur)" $((2 * n))

# a compressed file cut off in its first bytes: too short to decompress
for k in 5 10 40; do
	head -c $k cut.gzip >"first$k.gz"
	expect_status "the first $k bytes of a gzip file: exit 65" 65 "$MAILSHIFT" convert -q "first$k.gz" "first$k.md"
	check "the first $k bytes: it cannot be decompressed, at offset 0" \
		grep -q "^mailshift convert: error: first$k.gz:0: cannot decompress: " "$TMP/.err"
	expect_eq "the first $k bytes: one line" "$(wc -l <"$TMP/.err" | tr -d ' ')" 1
done

done_testing
