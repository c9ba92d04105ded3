#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# xml-validate: the corpus (samples, variants, hostile files with the
# outcome their README names), limits in time and memory, no local file
# bytes in any refusal, drain mode with envelopes and audit events,
# crash safety (PIPELINE_CRASH_AT points and SIGKILL at random points).
# The clock never matters: --now pins the acceptance window.

load helpers
bats_require_minimum_version 1.5.0

# Reference times (UTC): the samples were written 2026-11-27 21:55,
# the variants and hostile files 2024-03-28 10:15 .. 12:28.
export TZ=UTC
NOW_S=1795816800	# 2026-11-27 22:00:00
NOW_V=1711629000	# 2024-03-28 12:30:00

setup() {
	mk_tmp
	mk_spool "$T/spool"
	SP=$T/spool
	IN=$SP/xml-validate
	OUT=$SP/agent-auth/new
	printf 'spool_dir %s\nidle_exit 0\n[xml-validate]\nuser %s\nproducer %s\n' "$SP" "$RUN_USER" \
	    "$RUN_USER" > "$T/xv.conf"
}

teardown() {
	if [ -f "$T/err" ] && grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$T/err" >&2; then
		rm -rf "$T"
		return 1
	fi
	rm -rf "$T"
}

# xv ARGS...: the tool with the test configuration.
xv() {
	"$BIN/xml-validate" -c "$T/xv.conf" "$@"
}

# drain NOW: one drain run; stderr to $T/err.
drain() {
	"$BIN/xml-validate" -d -c "$T/xv.conf" --now "$1" 2>>"$T/err"
}

# put FILE [NAME]: queue a file as a bare item (local transfer mode).
put() {
	local name=${2:-$(basename "$1")}
	cp "$1" "$IN/new/$name"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$IN/new/$name"
	return 0
}

# envelope NAME BODYFILE: an item as tentacle-recv writes it, on stdout.
envelope() {
	printf 'Octospool-Envelope: 1\nOriginal-Name: %s\nPeer: 192.0.2.7 53422\n' "$1"
	printf 'Received: 2026-11-27T22:00:00.000000Z\nReceiver: h tentacle-recv\n'
	printf 'Tls: none\nAuth: none\nSha256: %s\n\n' "$(sha256sum < "$2" | cut -c1-64)"
	cat "$2"
}

# reason NAME: the reason= line of a rejected item.
reason() {
	sed -n 's/^reason=//p' "$IN/reject/$1.reason"
}

# asan: the binaries carry AddressSanitizer (time and RSS limits off).
asan() {
	ldd "$BIN/xml-validate" 2>/dev/null | grep -q libasan
}

@test "usage: -h 0, bad option 64, -V, two operands 64, -o without FILE 64" {
	run "$BIN/xml-validate" -h
	assert_success
	assert_output --partial "usage: xml-validate"
	run "$BIN/xml-validate" --bogus
	assert_equal "$status" 64
	run "$BIN/xml-validate" -V
	assert_success
	assert_output --regexp '^xml-validate [0-9]+\.[0-9]+\.[0-9]+$'
	run "$BIN/xml-validate" --version
	assert_success
	run xv a b
	assert_equal "$status" 64
	run xv -o -
	assert_equal "$status" 64
}

@test "config: -n accepts the sample section, 78 for unknown keys and bad values" {
	# The shipped users need not exist here: the test user stands in.
	sed -n '/^\[xml-validate\]/,/^\[/p' "$BATS_TEST_DIRNAME/../etc/octospool.conf" |
	    grep -v '^\[xml-validate\]' | grep -v '^\[' |
	    sed -E "s/^(user|producer) octospool-[a-z]+$/\1 $RUN_USER/" > "$T/section"
	printf 'spool_dir %s\n[xml-validate]\n' "$SP" > "$T/sample.conf"
	cat "$T/section" >> "$T/sample.conf"
	grep -q '^max_size' "$T/sample.conf"
	run "$BIN/xml-validate" -n -c "$T/sample.conf"
	assert_success
	assert_output "xml-validate: configuration ok"
	for bad in 'max_sise 10' 'max_size 67108865' 'max_size 0' 'module_errors maybe' \
	    'name_pattern (' 'max_depth 1' 'audit perhaps' 'now yesterday' 'batch 0' \
	    'busy_wait 1001' 'busy_wait -1'; do
		printf '[xml-validate]\nproducer %s\n%s\n' "$RUN_USER" "$bad" > "$T/bad.conf"
		run "$BIN/xml-validate" -n -c "$T/bad.conf"
		assert_equal "$status" 78
	done
	printf '[xml-validate]\nproducer no-such-user-octo\n' > "$T/bad.conf"
	run "$BIN/xml-validate" -n -c "$T/bad.conf"
	assert_equal "$status" 78
	assert_output --partial "key=producer msg=\"no user 'no-such-user-octo'\""
	run "$BIN/xml-validate" -n -c "$T/xv.conf" --now nope
	assert_equal "$status" 78
}

@test "every real sample is accepted, byte for byte, in filter mode" {
	for f in "$DATA"/samples/*.data; do
		run --separate-stderr xv --now "$NOW_S" -o - "$f"
		assert_success
		assert_equal "$stderr" ""
		[ "$output" = "$(cat "$f")" ]
		xv --now "$NOW_S" -o - "$f" | cmp - "$f"
	done
}

@test "every real sample is accepted in drain mode: moved on unchanged, counted per agent" {
	for f in "$DATA"/samples/*.data; do put "$f"; done
	run drain "$NOW_S"
	assert_success
	for f in "$DATA"/samples/*.data; do
		cmp "$OUT/$(basename "$f")" "$f"
	done
	assert_equal "$(ls -A "$IN/new" "$IN/cur" "$IN/reject" | grep -c .)" 3
	assert_equal "$(ls -A "$OUT" | wc -l)" 5
	run stat -c %a "$OUT/$(basename "$DATA"/samples/79cd*.data)"
	assert_output 640
	run cat "$SP"/audit-sign/new/*
	assert_line --partial '"action":"xml.accepted","outcome":"ok","agent":"research-agent-01","files":3,'
	assert_line --partial '"agent":"research-broker-01","files":1,'
	refute_output --partial '"outcome":"refused"'
	grep -q 'event=drain.done stage=xml-validate seen=5 accepted=5 rejected=0' "$T/err"
}

@test "every variant is accepted (v16, a server keepalive, is refused); bad modules are named" {
	for f in "$DATA"/variants/*.data; do
		case $f in
		*v16-*)
			run --separate-stderr xv --now "$NOW_V" "$f"
			assert_equal "$status" 65
			assert_equal "$stderr" "xml-validate: $f: rule=server line=2 attr=server_name a root with server_name is not agent data (server or discovery XML is refused on the agent channel)"
			continue ;;
		esac
		run --separate-stderr xv --now "$NOW_V" -o - "$f"
		assert_success
		[ "$output" = "$(cat "$f")" ]
		case $f in
		*v12-*)
			assert_equal "$(echo "$stderr" | wc -l)" 1
			[[ $stderr == *"module 12 (line 12059) refused: rule=module.name name \"NNNN"*"is longer than 600 bytes" ]] ;;
		*v15-*)
			[[ $stderr == *"module 3 (line 14) refused: rule=module.timestamp datalist timestamp \"2024-3-8 6:5:0\" is not YYYY/MM/DD HH:MM:SS"* ]] ;;
		*v18-*)
			assert_equal "$(echo "$stderr" | wc -l)" 9
			for want in 'module 3 (line 13) refused: rule=module.name no <name>' \
			    'module 4 (line 17) refused: rule=module.name name "" is empty' \
			    'module 5 (line 22) refused: rule=module.type type "generic_foo"' \
			    'module 6 (line 27) refused: rule=module.type type "log4x"' \
			    'module 7 (line 34) refused: rule=module.value generic_data value "twelve" is not a finite number' \
			    'module 8 (line 39) refused: rule=module.value generic_data value "" is not a finite number' \
			    'module 9 (line 44) refused: rule=module.value generic_data_string value is empty' \
			    'module 10 (line 49) refused: rule=module.type type "remote_tcp_proc"' \
			    'module 11 (line 54) refused: rule=module.type type "keep_alive"'; do
				[[ $stderr == *"$want"* ]]
			done ;;
		*)
			assert_equal "$stderr" "" ;;
		esac
	done
}

@test "variants in drain mode: all but v16 move on; refused modules are audited" {
	for f in "$DATA"/variants/*.data; do put "$f"; done
	run drain "$NOW_V"
	assert_success
	assert_equal "$(ls -A "$OUT" | wc -l)" 18
	assert_file_exists "$IN/reject/$(basename "$DATA"/variants/v16-*.data)"
	for f in "$DATA"/variants/*.data; do
		case $f in *v16-*) continue ;; esac
		cmp "$OUT/$(basename "$f")" "$f"
	done
	run cat "$SP"/audit-sign/new/*
	assert_line --regexp '"action":"xml.modules_refused","outcome":"refused","item":"v18-[^"]*","agent":"odd-modules-01","modules_refused":9,"modules":"3 module.name: no <name>; 4 module.name'
	assert_line --partial '"agent":"many-modules-01","files":1,"modules":600,"modules_refused":0}'
	grep -q 'event=module.refused stage=xml-validate id=v18-.* module=7 line=34 rule=module.value' "$T/err"
}

# The hostile corpus: file, rule in the reason, a fragment of the reason.
hostile_table() {
	cat <<'EOF'
b00-real-agent-unescaped-attrs.1795816552.data|wellformed|line=2 libxml2 error 65 at line 2: attributes construct error
b01-truncated.1711622000.data|wellformed|CData section not finished
b02-xxe-local-file.1711622060.data|doctype|line=2 a DOCTYPE is not allowed
b04-billion-laughs.1711622180.data|doctype|line=2 a DOCTYPE is not allowed
b06-invalid-utf8-bytes.1711622300.data|encoding|line=3 bytes that are not UTF-8
b07-unsupported-encoding.1711622360.data|encoding|encoding "X-MADE-UP-9" is not accepted
b08-utf16le-bom.1711622420.data|encoding|UTF-16 byte order mark
b11-path-traversal-agent-name.1711622600.data|agent_name|attr=agent_name "../../../../etc/cron.d/pwn" holds '/' or '\'
b11b-..%2f..%2fetc%2fpasswd.1711622610.data|name|file name contains ".."
b12-sql-injection-names.1711622660.data|attribute|attr=interval "300; DELETE FROM tevento" is not an integer
b13-missing-agent-name.1711622720.data|agent_name|the root has no agent_name attribute
b14-empty-and-blank-agent-name.1711622780.data|agent_name|attr=agent_name "" is empty
b15-bad-timestamps.1711622840.data|timestamp|attr=timestamp "2024/13/45 25:61:61" is not YYYY/MM/DD HH:MM:SS
b16-future-timestamp.1711622900.data|window|attr=timestamp time is 2359279800 s in the future (limit 300 s)
b17-stale-timestamp.1711622960.data|window|attr=timestamp time is 711629000 s old (limit 604800 s)
b18-agent-name-as-element.1711623020.data|agent_name|the root has no agent_name attribute
b20-control-characters.1711623140.data|control|line=3 raw control character 0x01
b23-spoofed-server-xml.1711623320.data|server|attr=server_name a root with server_name is not agent data
b28-name-without-sequence-number.data|name|file name does not match name_pattern
EOF
}

@test "every hostile file is refused with the reason its README names (filter mode)" {
	while IFS='|' read -r f rule frag; do
		run --separate-stderr xv --now "$NOW_V" -o - "$DATA/bad/$f"
		echo "# $f: $stderr" >&3
		assert_equal "$status" 65
		assert_equal "$output" ""
		[[ $stderr == "xml-validate: $DATA/bad/$f: rule=$rule "* ]]
		[[ $stderr == *"$frag"* ]]
		assert_equal "$(printf '%s\n' "$stderr" | wc -l)" 1
	done < <(hostile_table)
}

@test "every hostile file is quarantined with a reason file in drain mode; b22 loses its bad modules" {
	while IFS='|' read -r f rule frag; do put "$DATA/bad/$f"; done < <(hostile_table)
	for f in b22 b25 b26 b30; do put "$DATA"/bad/$f-*.data; done
	run drain "$NOW_V"
	assert_success
	while IFS='|' read -r f rule frag; do
		assert_file_exists "$IN/reject/$f"
		cmp "$IN/reject/$f" "$DATA/bad/$f"
		run cat "$IN/reject/$f.reason"
		assert_line "item=$f"
		assert_line "stage=xml-validate"
		assert_line "code=65"
		assert_line --regexp "^reason=rule=$rule "
		assert_output --partial "$frag"
	done < <(hostile_table)
	# NaN, Inf, 1e999, 0x1F, 12abc: the README's "reject per module".
	b22=$(basename "$DATA"/bad/b22-*.data)
	cmp "$OUT/$b22" "$DATA/bad/$b22"
	run cat "$SP"/audit-sign/new/*
	assert_line --partial "\"item\":\"$b22\",\"agent\":\"nan-inf-01\",\"modules_refused\":5,\"modules\":\"1 module.value: generic_data value \\\"NaN\\\" is not a finite number; 2 module.value: generic_data value \\\"Inf\\\""
	assert_line --partial '"agent":"nan-inf-01","files":1,"modules":6,"modules_refused":5}'
	assert_equal "$(grep -c '"action":"item.rejected"' "$SP"/audit-sign/new/*)" 19
	# Group passwords, impersonation and duplicates are agent-auth's and
	# db-load's to refuse: their XML is valid and moves on.
	for f in b25 b26 b30; do
		n=$(basename "$DATA"/bad/$f-*.data)
		cmp "$OUT/$n" "$DATA/bad/$n"
	done
	assert_equal "$(ls -A "$IN/new" "$IN/cur" | grep -c .)" 2
}

@test "module_errors reject: a bad module value refuses the whole file, naming the module" {
	printf '[xml-validate]\nmodule_errors reject\n' >> "$T/xv.conf"
	run --separate-stderr xv --now "$NOW_V" "$DATA"/bad/b22-*.data
	assert_equal "$status" 65
	[[ $stderr == *"rule=module.value line=3 module=1 generic_data value \"NaN\" is not a finite number (module_errors reject)" ]]
	put "$DATA"/variants/v18-*.data
	run drain "$NOW_V"
	assert_success
	run reason "$(basename "$DATA"/variants/v18-*.data)"
	assert_output "rule=module.name line=13 module=3 no <name> (module_errors reject)"
}

@test "generators: a 65 MiB file and a 100,000-module flood are refused before parsing" {
	sh "$DATA/bad/gen-oversize.sh" "$T" >/dev/null
	sh "$DATA/bad/gen-many-modules.sh" "$T" >/dev/null
	big=$(basename "$T"/b10-*.data)
	flood=$(basename "$T"/b29-*.data)
	run --separate-stderr xv --now "$NOW_V" "$T/$big"
	assert_equal "$status" 65
	[[ $stderr == *"rule=size line=0 the item exceeds the limit of 2008192 bytes"* ]]
	run --separate-stderr xv --now "$NOW_V" - < "$T/$flood"
	assert_equal "$status" 65
	[[ $stderr == "xml-validate: stdin: rule=size "* ]]
	mv "$T/$big" "$T/$flood" "$IN/new/"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$IN/new/"*
	run drain "$NOW_V"
	assert_success
	run reason "$big"
	assert_output --regexp '^rule=size line=0 item of 6815[0-9]+ bytes exceeds the limit of 2008192$'
	run reason "$flood"
	assert_output --regexp '^rule=size line=0 item of 86[0-9]+ bytes exceeds the limit of 2008192$'
}

@test "the module cap stops a flood that fits the size limit, early and in bounded memory" {
	sh "$DATA/bad/gen-many-modules.sh" "$T" >/dev/null
	printf '[xml-validate]\nmax_size 16000000\n' >> "$T/xv.conf"
	run --separate-stderr /usr/bin/time -f '%e %M' -o "$T/time" "$BIN/xml-validate" -c "$T/xv.conf" --now "$NOW_V" "$T"/b29-*.data
	assert_equal "$status" 65
	[[ $stderr == *"rule=limit line=10003 more than 10000 modules" ]]
	read -r secs kib < <(tail -1 "$T/time")
	echo "# 100,000-module flood (8.7 MB) with max_size 16 MB: ${secs}s, ${kib} KiB" >&3
	asan || [ "$kib" -lt 40960 ]
	printf 'max_modules 100000\nmax_elements 1000\n' >> "$T/xv.conf"
	run --separate-stderr xv --now "$NOW_V" "$T"/b29-*.data
	assert_equal "$status" 65
	[[ $stderr == *"rule=limit line=252 module=250 more than 1000 elements" ]]
}

@test "each hostile file is refused in under 50 ms and under 20 MiB RSS" {
	asan && skip "time and RSS are not meaningful under AddressSanitizer"
	sh "$DATA/bad/gen-oversize.sh" "$T" >/dev/null
	sh "$DATA/bad/gen-many-modules.sh" "$T" >/dev/null
	for f in "$DATA"/bad/*.data "$T"/b10-*.data "$T"/b29-*.data; do
		case $f in *b22-*|*b25-*|*b26-*|*b30-*) continue ;; esac
		/usr/bin/time -f '%e %M' -o "$T/time" "$BIN/xml-validate" -c "$T/xv.conf" \
		    --now "$NOW_V" "$f" 2>/dev/null && fail "$f accepted"
		read -r secs kib < <(tail -1 "$T/time")
		echo "# $(basename "$f"): ${secs}s ${kib} KiB" >&3
		awk -v s="$secs" 'BEGIN { exit !(s < 0.05) }'
		[ "$kib" -lt 20480 ]
	done
}

@test "XXE: no refusal, log line or audit event carries a byte of a local file" {
	echo "CANARY-$RANDOM-SECRET" > "$T/secret"
	chmod 0644 "$T/secret"
	canary=$(cat "$T/secret")
	h="<?xml version='1.0' encoding='UTF-8'?>"
	printf '%s\n<!DOCTYPE a [<!ENTITY x SYSTEM "file://%s">]>\n<agent_data agent_name="x"><module><name>&x;</name><data>1</data></module></agent_data>\n' "$h" "$T/secret" > "$T/x1.1.data"
	printf '%s\n<!DOCTYPE a SYSTEM "file://%s">\n<agent_data agent_name="x"/>\n' "$h" "$T/secret" > "$T/x2.1.data"
	printf '%s\n<!DOCTYPE a [<!ENTITY %% p SYSTEM "file://%s"> %%p;]>\n<agent_data agent_name="x"/>\n' "$h" "$T/secret" > "$T/x3.1.data"
	printf '%s\n<agent_data agent_name="x" xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file://%s" parse="text"/></agent_data>\n' "$h" "$T/secret" > "$T/x4.1.data"
	printf '%s\n<agent_data agent_name="x"><module><name>&x;</name><data>1</data></module></agent_data>\n' "$h" > "$T/x5.1.data"
	printf '%s\n<?xml-stylesheet href="file://%s"?><agent_data agent_name="x"/>\n' "$h" "$T/secret" > "$T/x6.1.data"
	printf '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE a [<!ENTITY x SYSTEM "/etc/passwd">]>\n<agent_data agent_name="x"><module><name>&x;</name><data>1</data></module></agent_data>\n' > "$T/x7.1.data"
	for f in "$T"/x?.1.data "$DATA"/bad/b02-*.data "$DATA"/bad/b04-*.data; do
		run xv --now "$NOW_V" -o - "$f"
		assert_equal "$status" 65
		refute_output --partial "$canary"
		refute_output --partial "root:x:0:0"
		put "$f"
	done
	run drain "$NOW_V"
	assert_success
	assert_equal "$(ls "$IN/reject" | grep -c '\.reason$')" 9
	run cat "$IN"/reject/*.reason "$SP"/audit-sign/new/* "$T/err"
	refute_output --partial "$canary"
	refute_output --partial "root:x:0:0"
	assert_output --partial "rule=entity line=2 module=1 libxml2 error 26 at line 2: Entity 'x' not defined"
	assert_output --partial "rule=schema line=2 XML namespaces are not allowed"
	assert_equal "$(ls -A "$OUT" | wc -l)" 0
}

@test "other hostile shapes: PIs, char refs, attributes on children, nesting, encodings" {
	h="<?xml version='1.0' encoding='UTF-8'?>"
	t() {	# t NAME CONTENT RULE FRAGMENT
		printf '%s' "$2" > "$T/$1.1.data"
		run --separate-stderr xv --now "$NOW_V" "$T/$1.1.data"
		echo "# $1: $stderr" >&3
		assert_equal "$status" 65
		[[ $stderr == *": rule=$3 "*"$4"* ]]
	}
	t pi "$h<agent_data agent_name='a'><?php x?></agent_data>" pi '<?php?> is not allowed'
	t cref "$h<agent_data agent_name='a'><module><name>&#27;</name></module></agent_data>" wellformed 'xmlParseCharRef'
	t attr "$h<agent_data agent_name='a'><module a='1'><name>x</name></module></agent_data>" schema 'only on the root element'
	t child "$h<agent_data agent_name='a'><module><name>x</name><extra><b/></extra></module></agent_data>" schema '<extra> holds text only'
	t root "$h<agent_dat agent_name='a'/>" root '<agent_dat> is not <agent_data>'
	t unknown "$h<agent_data agent_name='a'><snmptrap/></agent_data>" schema '<snmptrap> is unknown or repeated in <agent_data>'
	t text "$h<agent_data agent_name='a'>loose text</agent_data>" schema 'text is not allowed in <agent_data>'
	t twice "$h<agent_data agent_name='a'><module><name>x</name><type>generic_data</type><type>async_data</type></module></agent_data>" schema '<type> is unknown or repeated in <module>'
	t noroot "$(printf 'x')" wellformed 'no root element'
	printf "$h<agent_data agent_name='a\0b'/>" > "$T/nul.1.data"
	run --separate-stderr xv --now "$NOW_V" "$T/nul.1.data"
	assert_equal "$status" 65
	[[ $stderr == *": rule=encoding line=1 NUL byte"* ]]
	t ascii "$(printf "<?xml version='1.0' encoding='US-ASCII'?><agent_data agent_name='\xe9'/>")" encoding 'above 127'
	t bom8 "$(printf "\xef\xbb\xbf<?xml version='1.0' encoding='ISO-8859-1'?><agent_data agent_name='a'/>")" encoding 'byte order mark'
	t offset "$h<agent_data agent_name='a' timezone_offset='15'/>" attribute 'attr=timezone_offset "15" is not an integer in [-12, 14]'
	t mode "$h<agent_data agent_name='a' agent_mode='7'/>" attribute 'attr=agent_mode not 0, 1 or 2'
	t gis "$h<agent_data agent_name='a' latitude='91'/>" attribute 'attr=latitude not a number in [-90, 90]'
	t dot "$h<agent_data agent_name='.hidden'/>" agent_name "starts with '.'"
	t long "$h<agent_data agent_name='$(printf 'n%.0s' $(seq 601))'/>" agent_name 'is longer than 600 bytes'
	t parent "$h<agent_data agent_name='a' parent_agent_name='..\\x'/>" attribute 'attr=parent_agent_name'
	t sample "$h<agent_data agent_name='a'><module><name>m</name><datalist><data><value>1</value><timestamp>2001/01/01 00:00:00</timestamp></data></datalist></module></agent_data>" window 'attr=datalist/timestamp module=1 time is'
	# A latin-1 agent (the Windows default) and a UTF-8 BOM are fine.
	printf "<?xml version='1.0' encoding='ISO-8859-1'?>\n<agent_data agent_name='caf\xe9'/>\n" > "$T/l1.1.data"
	run xv --now "$NOW_V" "$T/l1.1.data"
	assert_success
	printf "\xef\xbb\xbf$h\n<agent_data agent_name='bom'/>\n" > "$T/b.1.data"
	run xv --now "$NOW_V" "$T/b.1.data"
	assert_success
}

@test "depth, attribute and text limits come from the configuration" {
	h="<?xml version='1.0' encoding='UTF-8'?>"
	printf '%s<agent_data agent_name="a" timestamp="AUTO"><inventory><inventory_module><name>i</name><datalist><data>x</data></datalist></inventory_module></inventory></agent_data>' "$h" > "$T/d.1.data"
	run xv --now "$NOW_V" "$T/d.1.data"
	assert_success
	printf '[xml-validate]\nmax_depth 4\nmax_attributes 2\nmax_text 10\n' >> "$T/xv.conf"
	run --separate-stderr xv --now "$NOW_V" "$T/d.1.data"
	assert_equal "$status" 65
	[[ $stderr == *"rule=limit line=1 elements nested deeper than 4" ]]
	printf '%s<agent_data agent_name="a" group="g" os_name="l"/>' "$h" > "$T/a.1.data"
	run --separate-stderr xv --now "$NOW_V" "$T/a.1.data"
	[[ $stderr == *"rule=limit line=1 more than 2 attributes on one element" ]]
	printf '%s<agent_data agent_name="a"><module><name>0123456789x</name></module></agent_data>' "$h" > "$T/t.1.data"
	run --separate-stderr xv --now "$NOW_V" "$T/t.1.data"
	[[ $stderr == *"rule=limit line=1 module=1 text of <name> longer than 10 bytes" ]]
}

@test "the acceptance window follows --now and the now, max_age and max_future keys" {
	f=$DATA/bad/b16-future-timestamp.1711622900.data	# 2099/01/01 00:00:00
	t=4070908800
	run xv --now "$t" "$f"
	assert_success
	run xv --now $((t - 300)) "$f"
	assert_success
	run --separate-stderr xv --now $((t - 301)) "$f"
	assert_equal "$status" 65
	[[ $stderr == *"rule=window line=2 attr=timestamp time is 301 s in the future (limit 300 s)" ]]
	run xv --now $((t + 604800)) "$f"
	assert_success
	run --separate-stderr xv --now $((t + 604801)) "$f"
	[[ $stderr == *"rule=window line=2 attr=timestamp time is 604801 s old (limit 604800 s)" ]]
	printf '[xml-validate]\nnow %s\nmax_age 10\nmax_future 0\n' $((t + 10)) >> "$T/xv.conf"
	run xv "$f"
	assert_success
	run xv --now $((t + 11)) "$f"
	assert_equal "$status" 65
	run xv --now $((t - 1)) "$f"
	assert_equal "$status" 65
	# timezone_offset is applied once: 10:15 +1 h is 11:15.
	run xv --now 1711624500 "$DATA"/variants/v02-*.data
	assert_success
	run xv --now 1711624499 "$DATA"/variants/v02-*.data
	assert_equal "$status" 65
}

@test "items with an envelope keep it; the envelope's Original-Name is checked" {
	s=$DATA/samples/238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data
	envelope 238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data "$s" > "$T/e1"
	envelope b28-name-without-sequence-number.data "$s" > "$T/e2"
	envelope 'x/../y.1.data' "$s" > "$T/e3"
	printf 'Octospool-Envelope: 1\nPeer 1.2.3.4\n\n' > "$T/e4"
	cat "$s" >> "$T/e4"
	put "$T/e1" 1795816532.000001_1_00000001.238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data
	put "$T/e2" 1795816532.000002_1_00000002.b28.data
	put "$T/e3" 1795816532.000003_1_00000003.x.1.data
	put "$T/e4" 1795816532.000004_1_00000004.y.1.data
	run drain "$NOW_S"
	assert_success
	cmp "$OUT/1795816532.000001_1_00000001.238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data" "$T/e1"
	run reason 1795816532.000002_1_00000002.b28.data
	assert_output "rule=name line=0 file name does not match name_pattern"
	run reason 1795816532.000003_1_00000003.x.1.data
	assert_output 'rule=name line=0 file name contains ".."'
	run reason 1795816532.000004_1_00000004.y.1.data
	assert_output "rule=envelope line=0 envelope: malformed line"
	run cat "$SP"/audit-sign/new/*
	assert_line --partial '"item":"1795816532.000002_1_00000002.b28.data","name":"b28-name-without-sequence-number.data","peer":"192.0.2.7","reason":"rule=name'
	# In filter mode too.
	run xv --now "$NOW_S" -o - "$T/e1"
	assert_success
	[ "$output" = "$(cat "$T/e1")" ]
	run xv --now "$NOW_S" "$T/e2"
	assert_equal "$status" 65
}

@test "name_pattern is configurable; an empty pattern keeps only the path checks" {
	printf '[xml-validate]\nname_pattern \n' >> "$T/xv.conf"
	run xv --now "$NOW_V" "$DATA/bad/b28-name-without-sequence-number.data"
	assert_success
	run xv --now "$NOW_V" "$DATA/bad/b11b-..%2f..%2fetc%2fpasswd.1711622610.data"
	assert_equal "$status" 65
}

@test "audit off: no audit files; a busy queue (locked) exits 0 at once" {
	printf '[xml-validate]\naudit no\n' >> "$T/xv.conf"
	put "$DATA"/bad/b02-*.data
	put "$DATA"/samples/79cd*.data
	run drain "$NOW_S"
	assert_success
	assert_equal "$(ls -A "$SP/audit-sign/new" | wc -l)" 0
	assert_equal "$(ls -A "$OUT" | wc -l)" 1
	put "$DATA"/samples/f905*.data
	flock "$IN/lock" -c "'$BIN/xml-validate' -c '$T/xv.conf' --now $NOW_S; echo rc=\$?" > "$T/out"
	assert_equal "$(cat "$T/out")" "rc=0"
	assert_file_exists "$IN/new/$(basename "$DATA"/samples/f905*.data)"
}

@test "a next queue that cannot be written: exit 75, every item back in new/" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to switch users"
	for f in "$DATA"/samples/*.data; do put "$f"; done
	# Not even openable: 74 (I/O error of the spool, retry later).
	chown root "$SP/agent-auth/tmp"
	chmod 0700 "$SP/agent-auth/tmp"
	run drain "$NOW_S"
	assert_equal "$status" 74
	assert_equal "$(ls -A "$IN/new" | wc -l)" 5
	# Openable, not writable: the item is given back, 75.
	chmod 0755 "$SP/agent-auth/tmp"
	run drain "$NOW_S"
	assert_equal "$status" 75
	assert_equal "$(ls -A "$IN/new" | wc -l)" 5
	assert_equal "$(ls -A "$IN/cur" "$OUT" | grep -c .)" 2	# the headers
	chown "$RUN_USER" "$SP/agent-auth/tmp"
	chmod 1770 "$SP/agent-auth/tmp"
	run drain "$NOW_S"
	assert_success
	assert_equal "$(ls -A "$OUT" | wc -l)" 5
}

@test "as root it becomes the configured user, and refuses to stay root" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	put "$DATA"/samples/79cd*.data
	run drain "$NOW_S"
	assert_success
	run stat -c %U "$OUT/$(basename "$DATA"/samples/79cd*.data)"
	assert_output "$RUN_USER"
	printf '[xml-validate]\nuser root\n' >> "$T/xv.conf"
	run "$BIN/xml-validate" -c "$T/xv.conf" --now "$NOW_S"
	assert_equal "$status" 77
	printf '[xml-validate]\nuser no-such-user-xv\n' >> "$T/xv.conf"
	run "$BIN/xml-validate" -c "$T/xv.conf" --now "$NOW_S" "$DATA"/samples/79cd*.data
	assert_equal "$status" 77
}

@test "an item whose owner is not the producer is refused unread, with its reason and audit event" {
	[ "$(id -u)" -eq 0 ] || skip "needs root (another owner)"
	put "$DATA"/samples/79cd*.data good.1.data
	put "$DATA"/samples/79cd*.data stranger.1.data
	chown daemon "$IN/new/stranger.1.data"
	run drain "$NOW_S"
	assert_success
	assert_file_exists "$OUT/good.1.data"
	assert_file_not_exists "$OUT/stranger.1.data"
	assert_file_exists "$IN/reject/stranger.1.data"
	run cat "$IN/reject/stranger.1.data.reason"
	assert_line "code=77"
	assert_line "reason=rule=producer line=0 owner uid $(id -u daemon) is not a producer of this queue ($RUN_USER)"
	run grep -h '"item":"stranger.1.data"' "$SP"/audit-sign/new/*
	assert_output --partial '"action":"item.rejected","outcome":"refused"'
	assert_output --partial "\"owner_uid\":$(id -u daemon)"
}

# state_check N: every queued item is in exactly one place, or published
# but its input not yet removed (in cur/, or back in new/ after a
# recovery): the one two-place state DESIGN.md allows ("two adjacent
# stages"); the rerun writes the same name again, so it ends as one.
state_check() {
	(cd "$IN/new" && ls -A) | sed 's/$/ new/' > "$T/where"
	(cd "$IN/cur" && ls -A) | sed 's/$/ cur/' >> "$T/where"
	(cd "$IN/reject" && ls -A | grep -v '\.reason$') | sed 's/$/ reject/' >> "$T/where"
	(cd "$OUT" && ls -A) | sed 's/$/ out/' >> "$T/where"
	awk '{ w[$1] = w[$1] " " $2 }
	    END { for (n in w) if (w[n] != " new" && w[n] != " cur" &&
		w[n] != " reject" && w[n] != " out" && w[n] != " cur out" &&
		w[n] != " new out") {
			print "bad state: " n w[n]; bad = 1 }
		exit bad }' "$T/where"
	assert_equal "$(awk '{ print $1 }' "$T/where" | sort -u | wc -l)" "$1"
}

# final_check N: every item decided exactly once and intact.
final_check() {
	state_check "$1"
	run awk '{ print $1 }' "$T/where"
	assert_equal "$(echo "$output" | sort | uniq -d | wc -l)" 0
	assert_equal "$(ls -A "$IN/new" "$IN/cur" | grep -c .)" 2
	for f in "$OUT"/*; do
		n=$(basename "$f")
		cmp "$f" "$T/src/${n#*.}"
	done
	for f in "$IN"/reject/*.data; do
		n=$(basename "$f")
		cmp "$f" "$T/src/${n#*.}"
		assert_file_exists "$f.reason"
	done
}

# queue N: N items, one in twenty hostile.
queue() {
	mkdir -p "$T/src"
	cp "$DATA"/samples/*.data "$DATA"/bad/b02-*.data "$T/src/"
	local s=("$DATA"/samples/*.data) bad i f
	bad=$(echo "$DATA"/bad/b02-*.data)
	for i in $(seq -w 1 "$1"); do
		f=${s[$((10#$i % 5))]}
		[ $((10#$i % 20)) -eq 0 ] && f=$bad
		cp "$f" "$IN/new/$i.$(basename "$f")"
	done
	[ "$(id -u)" -eq 0 ] && chown -R "$RUN_USER" "$IN/new"
	return 0
}

@test "crash at every PIPELINE_CRASH_AT point: nothing lost, nothing doubled after the rerun" {
	for point in claimed handled synced published committed; do
		rm -rf "$SP"
		mk_spool "$SP"
		queue 300
		PIPELINE_CRASH_AT=$point run "$BIN/xml-validate" -c "$T/xv.conf" --now "$NOW_S"
		assert_equal "$status" 99
		state_check 300
		run drain "$NOW_S"
		assert_success
		final_check 300
		assert_equal "$(ls -A "$OUT" | wc -l)" 285
		assert_equal "$(ls -A "$SP/agent-auth/tmp" | wc -l)" 0
		echo "# $point: ok" >&3
	done
}

@test "SIGKILL at random points while draining 2,000 items; a rerun finishes the job" {
	queue 2000
	kills=0
	for round in $(seq 1 40); do
		[ -n "$(ls -A "$IN/new")$(ls -A "$IN/cur")" ] || break
		"$BIN/xml-validate" -c "$T/xv.conf" --now "$NOW_S" 2>>"$T/err" &
		pid=$!
		sleep "0.$(printf '%03d' $((RANDOM % 150)))"
		if kill -9 "$pid" 2>/dev/null; then
			kills=$((kills + 1))
		fi
		wait "$pid" || true
		state_check 2000
	done
	echo "# $kills kills in $round rounds" >&3
	[ "$kills" -gt 0 ]
	run drain "$NOW_S"
	assert_success
	final_check 2000
	assert_equal "$(ls -A "$OUT" | wc -l)" 1900
	assert_equal "$(ls "$IN/reject" | grep -c '\.reason$')" 100
}

# linger SECONDS [POLL_MS]: the drain lingers (the [xml-validate] section
# overrides the file's one-pass idle_exit 0).
linger() {
	printf '[xml-validate]\nidle_exit %s\npoll_interval %s\nbatch 20\n' \
	    "$1" "${2:-1000}" >> "$T/xv.conf"
}

# ready NAME: one sample item written to tmp/, owned by the producer.
ready() {
	cp "$DATA/samples/$(ls "$DATA/samples" | grep '\.data$' | head -1)" \
	    "$IN/tmp/$1"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$RUN_USER" "$IN/tmp/$1"
	fi
}

# arrive_sample NAME: one sample item, written to tmp/ and renamed into new/,
# as a producer does.
arrive_sample() {
	ready "$1"
	mv "$IN/tmp/$1" "$IN/new/$1"
}

# start_drain: xml-validate in the background, its log in $T/err, its
# PID in $pid.
start_drain() {
	"$BIN/xml-validate" -d -c "$T/xv.conf" --now "$NOW_S" 2>>"$T/err" &
	pid=$!
}

# wait_for FILE SECONDS: until FILE exists (0) or the time is up (1).
wait_for() {
	for _ in $(seq 1 $(($2 * 20))); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

@test "lingering: one process takes items that arrive after it started (inotify), then exits after idle_exit" {
	# A 5 s rescan: only inotify explains a pick-up within 3 s.
	linger 4 5000
	start_drain
	sleep 0.5
	arrive_sample 1.a.1795816532.data
	wait_for "$OUT/1.a.1795816532.data" 3
	kill -0 "$pid"
	grep -q " pid=$pid " "$IN/status"
	sleep 1
	arrive_sample 2.b.1795816533.data
	wait_for "$OUT/2.b.1795816533.data" 3
	kill -0 "$pid"
	start=$(date +%s)
	wait "$pid"
	end=$(date +%s)
	# It left about idle_exit seconds after its last item, by itself.
	[ $((end - start)) -ge 2 ] && [ $((end - start)) -le 8 ]
	assert_equal "$(grep -c 'event=drain.done' "$T/err")" 2
	# A second run while one lingers leaves at once: the queue is held.
	"$BIN/xml-validate" -d -c "$T/xv.conf" --now "$NOW_S" 2>>"$T/err" &
	p1=$!
	sleep 0.5
	s=$(date +%s)
	run "$BIN/xml-validate" -c "$T/xv.conf" --now "$NOW_S"
	assert_success
	[ $(($(date +%s) - s)) -le 2 ]
	kill -TERM "$p1"
	wait "$p1"
}

# wait_status REGEX SECONDS: until the queue's status line matches.
wait_status() {
	for _ in $(seq 1 $(($2 * 20))); do
		grep -Eq "$1" "$IN/status" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "status: $(cat "$IN/status" 2>&1), want /$1/" >&2
	return 1
}

@test "lingering: the status line is written at most once a second while items come, and sums the passes since the line before" {
	# Inotify wakes it for each item; the pass that finds nothing comes
	# with the audit segment's hand-off (200 ms idle) or the 2 s rescan.
	linger 6 2000
	echo "busy_wait 0" >> "$T/xv.conf"	# a pass for each item
	start_drain
	wait_status " pid=$pid .* seen=0 " 3
	sleep 1.2
	arrive_sample 1.a.1795816532.data
	wait_status " seen=1 done=1 rejected=0 " 3
	# Three items 30 ms apart (made ready in tmp/ first): three passes
	# within a second of that line and no 200 ms pause between them,
	# recorded together by the first pass that finds nothing.
	for i in 2 3 4; do
		ready "$i.a.179581653$i.data"
	done
	for i in 2 3 4; do
		mv "$IN/tmp/$i.a.179581653$i.data" "$IN/new/"
		sleep 0.03
	done
	wait_status " pid=$pid .* seen=3 done=3 rejected=0 retried=0 " 5
	[ "$(grep -c 'event=drain.done' "$T/err")" -ge 2 ]
	kill -TERM "$pid"
	wait "$pid"
	assert_equal "$(ls "$OUT" | wc -l)" 4
}

# burst BUSY_WAIT [GAP]: a lingering drain with busy_wait BUSY_WAIT ("-":
# the default) is given item 1 after a quiet start, items 2-4 GAP ms
# (default 50) apart as soon as item 1 is out, and item 5 after 2 s of
# quiet.  Sets $passes (the items of each pass, in order) and $first and
# $last (ms from item 1's and item 5's arrival to their output).
burst() {
	local i t gap=${2:-50}
	linger 6 5000
	[ "$1" = - ] || echo "busy_wait $1" >> "$T/xv.conf"
	for i in 1 2 3 4 5; do
		ready "$i.a.179581653$i.data"
	done
	start_drain
	sleep 0.5
	t=$(date +%s%3N)
	mv "$IN/tmp/1.a.1795816531.data" "$IN/new/"
	wait_for "$OUT/1.a.1795816531.data" 3
	first=$(($(date +%s%3N) - t))
	for i in 2 3 4; do
		mv "$IN/tmp/$i.a.179581653$i.data" "$IN/new/"
		sleep "0.$(printf %03d "$gap")"
	done
	wait_for "$OUT/4.a.1795816534.data" 5
	sleep 2
	t=$(date +%s%3N)
	mv "$IN/tmp/5.a.1795816535.data" "$IN/new/"
	wait_for "$OUT/5.a.1795816535.data" 3
	last=$(($(date +%s%3N) - t))
	kill -TERM "$pid"
	wait "$pid"
	passes=$(sed -n 's/.*event=drain.done .* seen=\([1-9][0-9]*\) .*/\1/p' "$T/err" | tr '\n' ' ')
	echo "# busy_wait $1: passes of $passes; item 1 out in $first ms, item 5 in $last ms" >&3
	assert_equal "$(ls "$OUT" | wc -l)" 5
}

@test "lingering: busy_wait gathers the items that follow a pass closely into one pass; an item after a quiet spell is taken at once" {
	burst 600
	# Items 2-4 woke a drain whose pass had just ended: it waited
	# 600 ms and took them together.  Items 1 and 5 came after a quiet
	# spell: no wait.
	assert_equal "$passes" "1 3 1 "
	[ "$first" -lt 500 ]
	[ "$last" -lt 500 ]
}

@test "lingering: the shipped busy_wait (250 ms) gathers items that follow a pass closely; an item after a quiet spell is taken at once" {
	# The default: items 2-4 20 ms apart make one pass, items 1 and 5
	# (after quiet) go at once.
	burst - 20
	assert_equal "$passes" "1 3 1 "
	[ "$first" -lt 500 ]
	[ "$last" -lt 500 ]
}

@test "lingering: the gathering runs past the audit segment's hand-off" {
	# 150 ms apart: item 4 comes after the segment that item 1's pass
	# wrote is due to be handed on to audit-sign (200 ms idle); the
	# wait goes on, and the hand-off comes when it ends.
	burst 600 150
	assert_equal "$passes" "1 3 1 "
}

@test "lingering: a batch renamed in by the stage before is taken in one pass (batch_wait 1 ms)" {
	local i round
	linger 30 5000
	start_drain
	sleep 0.5
	# Five times: three items renamed into new/ by one process 0.2 ms
	# apart, as the stage before publishes a batch; a drain woken by
	# the first waits 1 ms and takes the three in one pass (one round
	# of five may be split by a preemption of the renaming process).
	for round in 1 2 3 4 5; do
		for i in 1 2 3; do
			ready "$round$i.a.17958165$round$i.data"
		done
		python3 - "$IN" "$round" <<'EOF'
import os, sys, time
d, r = sys.argv[1], sys.argv[2]
for i in (1, 2, 3):
    n = "%s%d.a.17958165%s%d.data" % (r, i, r, i)
    os.rename(os.path.join(d, "tmp", n), os.path.join(d, "new", n))
    time.sleep(0.0002)
EOF
		wait_for "$OUT/${round}3.a.17958165${round}3.data" 5
		sleep 0.5
	done
	kill -TERM "$pid"
	wait "$pid"
	assert_equal "$(ls "$OUT" | wc -l)" 15
	[ "$(grep -c 'event=drain.done .* seen=3 ' "$T/err")" -ge 4 ]
}

@test "lingering: a pass takes the items inotify named without reading new/ again; new/ is still read every poll_interval, and that finds an item inotify did not name" {
	# poll_interval 8 s; items named by inotify go at once, one whose
	# event is lost (PIPELINE_HINT_SKIP, a test hook) at the next read.
	linger 30 8000
	for n in 1 2 3; do
		ready "$n.a.179581653$n.data"
	done
	ready "lost.a.1795816534.data"
	PIPELINE_HINT_SKIP=lost "$BIN/xml-validate" -d -v -c "$T/xv.conf" \
	    --now "$NOW_S" 2>>"$T/err" &
	pid=$!
	wait_for "$SP/xml-validate/status" 5
	for n in 1 2 3; do
		mv "$IN/tmp/$n.a.179581653$n.data" "$IN/new/"
		wait_for "$OUT/$n.a.179581653$n.data" 3
	done
	mv "$IN/tmp/lost.a.1795816534.data" "$IN/new/"
	wait_for "$OUT/lost.a.1795816534.data" 25
	kill -TERM "$pid"
	wait "$pid"
	run grep -o 'event=drain\.[a-z]* stage=xml-validate names=[0-9]*' "$T/err"
	# The first pass read new/ (empty); items 1-3 came by name; the
	# lost item's wake-up named nothing, and a read of new/ took it.
	assert_line --index 0 'event=drain.scan stage=xml-validate names=0'
	[ "$(grep -c 'event=drain.hinted stage=xml-validate names=1$' "$T/err")" -eq 3 ]
	grep -q 'event=drain.hinted stage=xml-validate names=0$' "$T/err"
	grep -q 'event=drain.scan stage=xml-validate names=1 more=0$' "$T/err"
	assert_equal "$(ls "$OUT" | wc -l)" 4
}

@test "audit segment: a lingering drain appends its batches' events to its open segment and hands it on when idle, still running" {
	linger 6 5000
	start_drain
	sleep 0.3
	arrive_sample 1.a.1795816532.data
	wait_for "$OUT/1.a.1795816532.data" 3
	arrive_sample 2.a.1795816533.data
	wait_for "$OUT/2.a.1795816533.data" 3
	segments_handed_on "$SP"
	kill -0 "$pid"
	# Both batches' events, in segments renamed on whole (no file of
	# its own per batch is required: one segment usually holds both).
	assert_equal "$(cat "$SP"/audit-sign/new/* | grep -c '"action":"xml.accepted"')" 2
	# Every file there is one of its segments.
	assert_equal "$(ls "$SP"/audit-sign/new | grep -cv '\.xml-validate\.seg$')" 0
	kill -TERM "$pid"
	wait "$pid"
}

@test "audit segment: a lingering drain hands on, between passes, a dead segment of its stage that its start could not (the periodic pass), cut to its valid events" {
	linger 6 5000
	# The pass once every 300 ms here (once a minute as shipped).
	export PIPELINE_RECOVER_MS=300
	start_drain
	unset PIPELINE_RECOVER_MS
	sleep 0.5
	ev='{"ts":"2026-11-27T22:00:00Z","tool":"xml-validate","action":"x"}'
	dead=1795816540.123456_4714_0badc0de.xml-validate.seg
	printf '%s\nstale block\n' "$ev" > "$T/dead"
	install -m 0640 "$T/dead" "$SP/audit-sign/tmp/$dead"
	[ "$(id -u)" -ne 0 ] || chown "$RUN_USER" "$SP/audit-sign/tmp/$dead"
	# An item wakes it; after that pass the dead segment goes on.
	arrive_sample 1.a.1795816532.data
	wait_for "$SP/audit-sign/new/$dead" 3
	run cat "$SP/audit-sign/new/$dead"
	assert_output "$ev"
	grep -q "event=audit.recovered name=$dead bytes=$((${#ev} + 1)) dropped=12" "$T/err"
	kill -0 "$pid"
	kill -TERM "$pid"
	wait "$pid"
}

@test "audit segment: a drain killed after its batch's events are synced leaves them in its segment; the next run hands it on (audit.recovered), and the event is recorded at worst twice, never lost" {
	arrive_sample 1.a.1795816532.data
	pause=$(pause_file "$T/p")
	PIPELINE_PAUSE_AT=synced PIPELINE_PAUSE_FILE=$pause \
	    "$BIN/xml-validate" -d -c "$T/xv.conf" --now "$NOW_S" 2>>"$T/err" &
	pid=$!
	wait_pause "$pause" "$pid"
	# The events are durable in the segment; nothing is published yet.
	grep -q '"action":"xml.accepted"' "$SP"/audit-sign/tmp/*.xml-validate.seg
	assert_equal "$(ls -A "$SP/audit-sign/new" | wc -l)" 0
	assert_equal "$(ls -A "$OUT" | wc -l)" 0
	kill -KILL "$pid"
	wait "$pid" || true
	"$BIN/xml-validate" -d -c "$T/xv.conf" --now "$NOW_S" 2>>"$T/err"
	grep -q 'event=audit.recovered name=[^ ]*\.xml-validate\.seg bytes=[1-9]' "$T/err"
	assert_file_exists "$OUT/1.a.1795816532.data"
	run ls "$SP"/audit-sign/tmp/
	refute_output --partial .seg
	assert_equal "$(cat "$SP"/audit-sign/new/* | grep -c '"action":"xml.accepted"')" 2
}

@test "lingering: SIGTERM commits the batch in hand and leaves the rest in new/, nothing lost or doubled" {
	linger 30
	queue 600
	start_drain
	for _ in $(seq 1 200); do
		[ -n "$(ls -A "$OUT")" ] && break
		sleep 0.02
	done
	kill -TERM "$pid"
	wait "$pid"	# exit 0: a clean stop
	assert_equal "$(ls -A "$IN/cur" | wc -l)" 0
	state_check 600
	done_now=$(($(ls -A "$OUT" | wc -l) + $(ls -A "$IN/reject" | grep -vc '\.reason$')))
	echo "# stopped after $done_now of 600" >&3
	# It stopped early: what it had claimed is committed (cur/ is
	# empty), what it had not is still waiting.
	[ "$done_now" -lt 600 ]
	[ "$(ls -A "$IN/new" | wc -l)" -eq $((600 - done_now)) ]
	# The rest is there for the next run.
	# The rerun: one pass (the section above lingers 30 s).
	linger 0
	run drain "$NOW_S"
	assert_success
	final_check 600
}

@test "lingering: SIGKILL at random points while items keep arriving; a rerun finishes, nothing lost or doubled" {
	linger 30
	mkdir -p "$T/src"
	cp "$DATA"/samples/*.data "$DATA"/bad/b02-*.data "$T/src/"
	s=("$DATA"/samples/*.data)
	n=0 kills=0
	for round in $(seq 1 12); do
		"$BIN/xml-validate" -c "$T/xv.conf" --now "$NOW_S" 2>>"$T/err" &
		pid=$!
		# Items arrive while it lingers.
		for _ in $(seq 1 25); do
			n=$((n + 1))
			i=$(printf '%04d' "$n")
			f=${s[$((n % 5))]}
			[ $((n % 20)) -eq 0 ] && f=$(echo "$DATA"/bad/b02-*.data)
			cp "$f" "$IN/tmp/$i.$(basename "$f")"
			[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$IN/tmp/$i.$(basename "$f")"
			mv "$IN/tmp/$i.$(basename "$f")" "$IN/new/"
		done
		sleep "0.$(printf '%03d' $((RANDOM % 300)))"
		kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
		wait "$pid" || true
		state_check "$n"
	done
	echo "# $kills kills, $n items" >&3
	[ "$kills" -gt 0 ]
	# The rerun: one pass (the section above lingers 30 s).
	linger 0
	run drain "$NOW_S"
	assert_success
	final_check "$n"
}
