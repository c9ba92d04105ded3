#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# The retention method of Pandora FMS's pandora_db.pl, re-implemented for
# bench/purge.sh from a reading of its purge and compaction routines
# (pandora_delete_old_module_data, the tevento loop of pandora_purgedb,
# and the days_compact/step_compact pandora_compactdb): the same
# statements in the same order, the same steps and pauses, settings read
# from tconfig.  Only the history tables db-load fills are touched; the
# rest of pandora_db.pl's maintenance (sessions, traps, reports, ...) is
# left out.  Not Pandora's code: its algorithm, written again.
#
#   perl bench/pandora-db-method.pl SOCKET DATABASE NOW
#
# NOW stands for time(), so that both methods see the same clock.
use strict;
use warnings;
use DBI;
use Time::HiRes qw(usleep);

my ($socket, $dbname, $now) = @ARGV;
die "usage: $0 socket database now\n" unless defined $now;

my $dbh = DBI->connect("DBI:MariaDB:database=$dbname;mariadb_socket=$socket",
    undef, undef, { RaiseError => 1, PrintError => 0, AutoCommit => 1 });

# pandora_db.pl's defaults and its tconfig overrides.
my $BIG_OPERATION_STEP = 100;
my $SMALL_OPERATION_STEP = 1000;
my %conf;
for my $t (qw(days_purge string_purge event_purge days_compact step_compact
    last_compact big_operation_step_datos_purge
    small_operation_step_datos_purge)) {
	($conf{$t}) = $dbh->selectrow_array(
	    'SELECT value FROM tconfig WHERE token = ?', undef, $t);
}
$BIG_OPERATION_STEP = $conf{big_operation_step_datos_purge}
    if $conf{big_operation_step_datos_purge};
$SMALL_OPERATION_STEP = $conf{small_operation_step_datos_purge}
    if $conf{small_operation_step_datos_purge};

sub value {
	my ($sql, @bind) = @_;
	my ($v) = $dbh->selectrow_array($sql, undef, @bind);
	return $v;
}

# DELETE ... LIMIT n, as PandoraFMS::DB's db_delete_limit.
sub delete_limit {
	my ($table, $where, $limit, @bind) = @_;
	return $dbh->do("DELETE FROM $table WHERE $where LIMIT $limit", undef,
	    @bind);
}

# From the oldest row, BIG_OPERATION_STEP time slices up to the limit,
# each deleted SMALL_OPERATION_STEP rows at a time with a 10 ms pause.
sub delete_old_module_data {
	my ($table, $ulimit) = @_;
	my $first = value("SELECT utimestamp FROM $table ORDER BY utimestamp "
	    . "ASC LIMIT 1");
	return unless defined $first;
	my $steps = int(($ulimit - $first) / $BIG_OPERATION_STEP);
	return unless $steps > 0;
	for (my $ax = 1; $ax <= $BIG_OPERATION_STEP; $ax++) {
		my $mark1 = $first + $steps * $ax;
		my $mark2 = $first + $steps * ($ax - 1);
		my $count = value("SELECT COUNT(id_agente_modulo) FROM $table "
		    . "WHERE utimestamp < $mark1 AND utimestamp >= $mark2");
		while ($count > 0) {
			delete_limit($table, 'utimestamp < ? AND utimestamp >= ?',
			    $SMALL_OPERATION_STEP, $mark1, $mark2);
			usleep(10000);
			$count -= $SMALL_OPERATION_STEP;
		}
	}
}

if (defined $conf{days_purge} && $conf{days_purge} > 0) {
	delete_old_module_data('tagente_datos', $now - 86400 * $conf{days_purge});
}
$conf{string_purge} //= 7;
if ($conf{string_purge} > 0) {
	delete_old_module_data('tagente_datos_string',
	    $now - 86400 * $conf{string_purge});
}
$conf{event_purge} //= 10;
if ($conf{event_purge} > 0) {
	my $limit = $now - 86400 * $conf{event_purge};
	my $n = value('SELECT COUNT(*) FROM tevento WHERE utimestamp < ?', $limit);
	while ($n > 0) {
		delete_limit('tevento', 'utimestamp < ?', $BIG_OPERATION_STEP, $limit);
		$n -= $BIG_OPERATION_STEP;
		usleep(10000);
	}
}

# Compaction: step_compact-hour intervals from now - days_compact back to
# the oldest row (or last_compact); per interval every row is read, each
# module's average (boolean types skipped) is inserted at the interval's
# start, and the whole interval is deleted first.
sub compact {
	return if !$conf{days_compact} || !$conf{step_compact} ||
	    $conf{step_compact} < 1;
	my $step = $conf{step_compact} * 3600;
	my $limit = value('SELECT MIN(utimestamp) FROM tagente_datos');
	return unless defined $limit && $limit > 0;
	my $start = $now - $conf{days_compact} * 86400;
	my $last_compact = $start;
	$limit = $conf{last_compact}
	    if defined $conf{last_compact} && $conf{last_compact} > $limit;
	return if $start <= $limit;
	my (%type, %sum, %count);
	while (1) {
		my $stop = $start - $step;
		last if $start < $limit;
		my $rows = $dbh->selectall_arrayref('SELECT * FROM tagente_datos '
		    . 'WHERE utimestamp < ? AND utimestamp >= ?', { Slice => {} },
		    $start, $stop);
		# pandora_db.pl tests $#data == 0: one row, the interval is
		# left as it is.
		if ($#$rows == 0) {
			$start = $stop;
			next;
		}
		for my $d (@$rows) {
			my $id = $d->{id_agente_modulo};
			if (!exists $type{$id}) {
				$type{$id} = value('SELECT id_tipo_modulo FROM '
				    . 'tagente_modulo WHERE id_agente_modulo = ?', $id);
			}
			next unless defined $type{$id};
			my $t = $type{$id};
			next if $t == 2 || $t == 6 || $t == 9 || $t == 18 ||
			    $t == 21 || $t == 31;
			$sum{$id} += $d->{datos} // 0;
			$count{$id}++;
		}
		$dbh->do('DELETE FROM tagente_datos WHERE utimestamp < ? AND '
		    . 'utimestamp >= ?', undef, $start, $stop);
		for my $id (keys %sum) {
			$dbh->do('INSERT INTO tagente_datos (id_agente_modulo, '
			    . 'datos, utimestamp) VALUES (?, ?, ?)', undef, $id,
			    $sum{$id} / $count{$id}, $stop);
			delete $sum{$id};
			delete $count{$id};
		}
		usleep(1000);
		$start = $stop;
	}
	if (defined $conf{last_compact}) {
		$dbh->do('UPDATE tconfig SET value = ? WHERE token = ?', undef,
		    $last_compact, 'last_compact');
	} else {
		$dbh->do('INSERT INTO tconfig (value, token) VALUES (?, ?)', undef,
		    $last_compact, 'last_compact');
	}
}
compact();
$dbh->disconnect;
