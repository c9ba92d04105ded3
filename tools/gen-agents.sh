#!/bin/sh
# SPDX-License-Identifier: ISC
# Generate agent data files for db-load tests and benchmarks:
#
#   gen-agents.sh DIR FILES AGENTS MODULES [START] [PREFIX]
#
# FILES files in DIR, one per (agent, interval): file i belongs to agent
# i % AGENTS and is timestamped START + (i / AGENTS) * 300 (UTC, Unix
# seconds; default 1795800000).  Each has MODULES modules cycling through
# generic_data, generic_proc, generic_data_string, generic_data_inc and
# async_data.  Processes stay 1; every other value changes from file to
# file, so history keeps each of those samples and rows per (module,
# utimestamp) can be counted exactly.
# Names sort in generation order: <sec>.<usec>_<n>_00000000.<agent>.data
set -eu
dir=${1:?usage: gen-agents.sh DIR FILES AGENTS MODULES [START] [PREFIX]}
files=${2:?files}
agents=${3:?agents}
modules=${4:?modules}
start=${5:-1795800000}
prefix=${6:-gen-agent}
mkdir -p "$dir"
exec gawk -v dir="$dir" -v files="$files" -v agents="$agents" \
    -v modules="$modules" -v start="$start" -v prefix="$prefix" 'BEGIN {
	split("generic_data generic_proc generic_data_string generic_data_inc async_data", type, " ")
	for (i = 0; i < files; i++) {
		a = i % agents
		round = int(i / agents)
		t = start + round * 300
		ts = strftime("%Y/%m/%d %H:%M:%S", t, 1)
		name = sprintf("%s-%05d", prefix, a)
		f = sprintf("%s/%010d.%06d_%d_00000000.%s.%d.data", dir, \
		    start, i % 1000000, i, name, t)
		printf("<?xml version=\x271.0\x27 encoding=\x27UTF-8\x27?>\n") > f
		printf("<agent_data agent_name=\x27%s\x27 agent_alias=\x27%s\x27 " \
		    "os_name=\x27linux\x27 os_version=\x27Debian 12\x27 " \
		    "interval=\x27300\x27 version=\x277.0NG.776\x27 " \
		    "timestamp=\x27%s\x27 group=\x27Servers\x27>\n", \
		    name, name, ts) > f
		for (m = 1; m <= modules; m++) {
			ty = type[(m - 1) % 5 + 1]
			if (ty == "generic_proc")
				v = 1
			else if (ty == "generic_data_string")
				v = sprintf("state %d of module %d", round, m)
			else if (ty == "generic_data_inc")
				v = 1000000 + round * 1000 * m + round * round
			else
				v = sprintf("%d.%d", m * 10 + round % 7, round % 10)
			printf("<module><name><![CDATA[Module %02d %s]]></name>" \
			    "<type>%s</type><data><![CDATA[%s]]></data>" \
			    "</module>\n", m, ty, ty, v) > f
		}
		printf("</agent_data>\n") > f
		close(f)
	}
}'
