#!/usr/bin/env bash
# Text columns in a character set that utf8mb4 cannot carry byte for byte come back as they
# were. The dump reads over a utf8mb4 connection, so the server converted such values on the way
# out and wrote `?` for every byte without a Unicode character: an `ascii` column's bytes >= 0x80,
# cp1250's 0x81 0x83 0x88 0x90 0x98, big5/sjis/gbk sequences that are well formed but map to no
# character. A restore then stored the `?`s, exit 0, CHECKSUM TABLE different. Columns of such
# sets (decided per column: one table mixes them with utf8mb4 and latin1) in a table with
# generated columns, under a view, as a primary key, and in a table dumped in parts, with NULL and
# '': backed up, dropped, restored --databases-only, then again through `rewind dump | mariadb`;
# HEX() of every value of every table and view and CHECKSUM TABLE identical before and after.
# latin1 (every one of its 256 bytes round-trips through utf8mb4) stays on the quoted-text path.
source "$(dirname "$0")/lib.sh" "$@"
FIXTURE_DBS=(cs2)

start_server s1
step "create tables whose text columns hold bytes utf8mb4 cannot carry"
python3 - >"$WORK/fixture.sql" <<'PY'
def hx(b):
    return "0x" + b.hex() if b else "''"

all_bytes = bytes(range(256))
print("SET SESSION sql_mode='';")
print("CREATE DATABASE cs2 CHARACTER SET utf8mb4; USE cs2;")
# Columns of one table in several sets, two generated columns over a cp1250 one, an index on it.
# (X'81', not _cp1250 0x81: MariaDB 10.11 keeps the latter in a generated column as _cp1250'x81',
# the string "x81".)
print("""CREATE TABLE mixed (id INT PRIMARY KEY,
  a VARCHAR(300) CHARACTER SET ascii, c VARCHAR(300) CHARACTER SET cp1250,
  b5 VARCHAR(50) CHARACTER SET big5, sj VARCHAR(50) CHARACTER SET sjis, gb VARCHAR(50) CHARACTER SET gbk,
  u16 VARCHAR(20) CHARACTER SET utf16, l1 VARCHAR(300) CHARACTER SET latin1, u4 VARCHAR(50) CHARACTER SET utf8mb4,
  tx MEDIUMTEXT CHARACTER SET cp1250, ch CHAR(10) CHARACTER SET cp1250,
  gp VARCHAR(310) CHARACTER SET cp1250 AS (CONCAT(c, X'81')) PERSISTENT,
  gv INT AS (LENGTH(c)) VIRTUAL, KEY (c(20)));""")
rows = [
    # bytes without a character in utf8mb4 (big5 A3C0, sjis 81AD, gbk A140: well formed, unmapped)
    (1, b"A\x80\xff", b"\x81\x83\x88\x90\x98", b"\xa3\xc0\xa3\xc1", b"\x81\xad", b"\xa1\x40",
     b"\xd8\x3d\xde\x00", b"\x81\x8d\x8f\x90\x9d", "é".encode(), b"x\x81y" * 1000, b"\x83\x88"),
    (2,) + (None,) * 10,
    (3,) + (b"",) * 10,
    # characters that do map, with a quote, a backslash and a NUL among them
    (4, b"a'\\\x00", b"\x8a'\\\x00\x9e", b"\xa4\x40", b"\x82\xa0", b"\xb0\xa1", b"\x00\x41",
     b"\xe9'\\\x00", "é😀'".encode(), b"\x8a" * 10, b"\x8a "),
    (5, all_bytes[:128] + all_bytes[128:], all_bytes[1:255], b"a\xa3\xc0b", b"a\x81\xadb", b"a\xa1\x40b",
     b"", all_bytes, b"plain", b"\x90", b"a\x98b"),
]
cs = ["ascii", "cp1250", "big5", "sjis", "gbk", "utf16", "latin1", "utf8mb4", "cp1250", "cp1250"]
print("INSERT INTO mixed (id, a, c, b5, sj, gb, u16, l1, u4, tx, ch) VALUES")
print(",\n".join("(%d, %s)" % (r[0], ", ".join("NULL" if v is None else "_%s %s" % (s, hx(v)) if v else "''"
                                               for s, v in zip(cs, r[1:]))) for r in rows) + ";")
# Every byte alone in latin1 and in ascii, and all 256 in one value.
for t, s in (("latin1_bytes", "latin1"), ("ascii_bytes", "ascii")):
    print("CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(300) CHARACTER SET %s);" % (t, s))
    vals = ["(%d, _%s %s)" % (i, s, hx(bytes([i]))) for i in range(256)]
    vals += ["(256, _%s %s)" % (s, hx(all_bytes)), "(257, NULL)", "(258, '')"]
    print("INSERT INTO %s VALUES %s;" % (t, ",".join(vals)))
# A cp1250 primary key (the dump orders by it).
print("CREATE TABLE pk1250 (k VARCHAR(20) CHARACTER SET cp1250 COLLATE cp1250_bin PRIMARY KEY, n INT);")
print("INSERT INTO pk1250 VALUES (_cp1250 0x81, 1), (_cp1250 0x83, 2), (_cp1250 0x418841, 3), ('', 4), ('a', 5);")
# Large enough to be dumped in parts (by id ranges) with --db-part-size 256K.
print("CREATE TABLE parts (id INT PRIMARY KEY, v VARCHAR(1000) CHARACTER SET cp1250, w VARCHAR(20));")
for start in range(0, 4000, 500):
    print("INSERT INTO parts VALUES %s;" % ",".join(
        "(%d, %s, %s)" % (i, "NULL" if i % 97 == 0 else "_cp1250 " + hx(("%d" % i).encode() + b"\x81\x83\x88\x90\x98" * 100),
                          "'w%d'" % i) for i in range(start, start + 500)))
print("ANALYZE TABLE parts;")
# ENUM and SET in cp1250 with members that map (Š 8A, ž 9E).
print("CREATE TABLE enums (id INT PRIMARY KEY, e ENUM('a','Š','ž') CHARACTER SET cp1250, s SET('x','Š') CHARACTER SET cp1250);")
print("INSERT INTO enums VALUES (1, _cp1250 0x8A, _cp1250 0x782C8A), (2, 'a', ''), (3, NULL, NULL), (4, _cp1250 0x9E, 'x');")
print("CREATE VIEW v_mixed AS SELECT id, c, HEX(c) AS h, a FROM mixed;")
PY
mdb --default-character-set=utf8mb4 <"$WORK/fixture.sql" >/dev/null || fail "the fixture does not load"

# state OUT: HEX() of every column of every row of every table and view of cs2, then CHECKSUM TABLE.
state() {
  local out=$1 t cols
  : >"$out"
  for t in $(mdb -N -B -e "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='cs2' ORDER BY 1"); do
    cols=$(mdb -N -B -e "SELECT GROUP_CONCAT(CONCAT('HEX(\`', COLUMN_NAME, '\`)') ORDER BY ORDINAL_POSITION)
                         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='cs2' AND TABLE_NAME='$t'")
    echo "== $t: $cols" >>"$out"
    mdb -N -B -e "SELECT $cols FROM cs2.\`$t\` ORDER BY 1" >>"$out" || fail "cannot read cs2.$t"
  done
  for t in $(mdb -N -B -e "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='cs2'
                            AND TABLE_TYPE='BASE TABLE' ORDER BY 1"); do
    mdb -N -B -e "CHECKSUM TABLE cs2.\`$t\` EXTENDED" >>"$out" || fail "CHECKSUM TABLE cs2.$t"
  done
}
state "$WORK/before.state"
reference_dump "$WORK/before.sql"
# The fixture must hold what utf8mb4 loses, or this test could not fail.
row1=$(mdb -N -B -e "SELECT HEX(c), CONVERT(c USING utf8mb4) = '?????', HEX(b5), CONVERT(b5 USING utf8mb4) = '??',
                     HEX(a), HEX(sj), HEX(gb), CONVERT(sj USING utf8mb4), CONVERT(gb USING utf8mb4) FROM cs2.mixed WHERE id = 1")
[[ $row1 == $'8183889098\t1\tA3C0A3C1\t1\t4180FF\t81AD\tA140\t?\t?' ]] ||
  fail "fixture: mixed row 1 does not hold the bytes utf8mb4 loses: $row1"
[[ $(mdb -N -B -e "SELECT COUNT(*), SUM(LENGTH(v)) FROM cs2.latin1_bytes") == $'259\t512' ]] || fail "fixture: latin1_bytes"
note "before: $(wc -l <"$WORK/before.state") lines of hex and checksums"

REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases cs2 --mysql-defaults-file "$MDB_CNF" --db-part-size 256K
SNAP=$(last_line)
expect_rc 0 "$REWIND" ls --repo "$REPO" "$SNAP" databases/default/cs2/data
parts=$(grep -c 'data/parts\.[0-9]*\.sql' "$WORK/last.out" || :)
note "table parts dumped in $parts parts"
((parts >= 4)) || check_failed "table parts was not split (parts: $parts)"

step "latin1 and utf8mb4 values are written as quoted text, the others as introduced hex"
expect_rc 0 "$REWIND" dump --repo "$REPO" "$SNAP" --db cs2
cp "$WORK/last.out" "$WORK/dump.sql"
grep -q "^INSERT INTO \`cs2\`.\`latin1_bytes\` (\`id\`,\`v\`) VALUES (0,'\\\\0'),(1,'" "$WORK/dump.sql" ||
  check_failed "latin1_bytes is not written as quoted text"
if grep '^INSERT' "$WORK/dump.sql" | grep -q '_latin1 \|_utf8mb4 '; then check_failed "latin1 or utf8mb4 values written as hex"; fi
grep -q "(1,_ascii 0x4180ff,_cp1250 0x8183889098,_big5 0xa3c0a3c1," "$WORK/dump.sql" ||
  check_failed "mixed row 1 is not written as introduced hex"

step "drop cs2, restore --databases-only"
mdb -e "DROP DATABASE cs2"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
state "$WORK/after.state"
reference_dump "$WORK/after.sql"
compare_files "HEX() of every value and CHECKSUM TABLE before and after the restore" "$WORK/before.state" "$WORK/after.state"
compare_files "mariadb-dump before and after the restore" "$WORK/before.sql" "$WORK/after.sql"

step "drop cs2, rewind dump --db cs2 | mariadb"
mdb -e "DROP DATABASE cs2"
mdb <"$WORK/dump.sql" || check_failed "the stock client does not load rewind dump --db cs2"
state "$WORK/after2.state"
reference_dump "$WORK/after2.sql"
compare_files "HEX() of every value and CHECKSUM TABLE before and after dump | mariadb" "$WORK/before.state" "$WORK/after2.state"
compare_files "mariadb-dump before and after dump | mariadb" "$WORK/before.sql" "$WORK/after2.sql"
