package DataStream::ConsumerScript;

# The consumer's Lua scripts as it sends them to Redis: each "-- include <file>" line replaced
# by that file, as contract/embed_lua.sh does at build time. For tests and benchmarks that run
# a script the way the consumer does.

use strict;
use warnings;
use Exporter 'import';
use File::Basename ();
use File::Spec;

our @EXPORT_OK = qw(consumer_script);

my $DIR = File::Spec->rel2abs(File::Basename::dirname(__FILE__) . '/../../../consumer/src/lua');

sub _slurp { my ($f) = @_; open my $fh, '<', $f or die "$f: $!"; local $/; return <$fh> }

# consumer_script('rounds_apply') -> the script's text
sub consumer_script {
    my ($name) = @_;
    return join '', map { /^-- include (\S+)$/ ? _slurp("$DIR/$1") : $_ } split /^/, _slurp("$DIR/$name.lua");
}

1;
