package DataStream::ConsumerStages;
# Where the consumer's time went: datastream_stage_seconds_total of its /metrics, per stage,
# and what a window of a run added to it, as each thread's share of the window.
use strict;
use warnings;
use Exporter 'import';
our @EXPORT_OK = qw(stage_seconds stages_used stages_note);

# The stages of each thread of the rounds worker, in pipeline order (consumer/src/metrics.c).
my @FETCH = qw(fetch decode games_lookup redis_apply handoff_wait);
my @PUBLISH = qw(nats redis_mark settle);

# { stage => seconds } from the text of the consumer's /metrics.
sub stage_seconds {
    my ($metrics) = @_;
    my %s;
    $s{$1} = $2 + 0 while ($metrics // '') =~ /^datastream_stage_seconds_total\{stage="(\w+)"\} (\S+)$/mg;
    return \%s;
}

# Seconds each stage spent between two readings.
sub stages_used {
    my ($before, $after) = @_;
    return { map { $_ => $after->{$_} - ($before->{$_} // 0) } keys %$after };
}

# Each stage's share of a window of $seconds in percent, by thread: "consumer, % of the
# window: fetch thread: fetch 71, decode 2, ...; publishing thread: nats 20, ...".
sub stages_note {
    my ($used, $seconds) = @_;
    return '' unless $seconds && %$used;
    # fetch is counted when a batch arrives, so an idle spell that began before the window would
    # count in full: it is what the fetch thread's other stages leave of the window instead.
    my %share = map { $_ => 100 * ($used->{$_} // 0) / $seconds } @FETCH, @PUBLISH;
    my $busy = 0;
    $busy += $share{$_} for grep { $_ ne 'fetch' } @FETCH;
    $share{fetch} = $busy < 100 ? 100 - $busy : 0;
    my $thread = sub {
        my ($name, @stages) = @_;
        return "$name " . join(', ', map { sprintf '%s %.0f', $_, $share{$_} } @stages);
    };
    return 'consumer, % of the window: ' . $thread->('fetch thread:', @FETCH) . '; '
        . $thread->('publishing thread:', @PUBLISH);
}

1;
