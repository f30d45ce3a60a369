#!/usr/bin/perl
# A slow SMSC written with Net::SMPP (Debian libnet-smpp-perl), an SMPP implementation independent of the npm
# `smpp` package Dialplane's carrier uses. It listens on 127.0.0.1 (port 0: the kernel picks one, printed as
# "listening <port>" on stdout), accepts any bind_transceiver, answers enquire_link and unbind, and answers every
# submit_sm with a message id after <delay_ms>, so that submit_sm are in flight when the test kills the server.
# Every submit_sm is appended to <log_file> the moment it arrives, one line each:
#   submit <connection> <destination_addr> <hex of short_message>
# so the test can count the parts it received and find any received twice.
#
# Usage: net-smpp-smsc.pl <log_file> <delay_ms>
use strict;
use warnings;
use IO::Select;
use IO::Handle;
use Time::HiRes qw(time);
use Net::SMPP;

my ($log_file, $delay_ms) = @ARGV;
die "usage: $0 <log_file> <delay_ms>\n" unless defined $log_file && defined $delay_ms;
$SIG{PIPE} = 'IGNORE';

open(my $log, '>>', $log_file) or die "cannot open $log_file: $!\n";
$log->autoflush(1);

my $listener = Net::SMPP->new_listen('127.0.0.1', port => 0, smpp_version => 0x34) or die "cannot listen: $!\n";
STDOUT->autoflush(1);
print 'listening ', $listener->sockport, "\n";

my $select = IO::Select->new($listener);
my %connection_of;    # socket => connection number
my @due;              # [time, socket, seq, message id], in arrival order (one delay for all: already sorted)
my $connections = 0;
my $ids = 0;

sub drop {
    my ($socket) = @_;
    $select->remove($socket);
    delete $connection_of{$socket};
    @due = grep { $_->[1] != $socket } @due;
    close $socket;
}

for (;;) {
    my $wait = @due ? $due[0][0] - time : 1;
    $wait = 0 if $wait < 0;
    for my $socket ($select->can_read($wait)) {
        if ($socket == $listener) {
            my $client = $listener->accept or next;
            $connection_of{$client} = ++$connections;
            $select->add($client);
            next;
        }
        my $pdu = $socket->read_pdu();
        if (!defined $pdu) {
            drop($socket);
            next;
        }
        my $cmd = $pdu->{cmd};
        if ($cmd == Net::SMPP::CMD_bind_transceiver) {
            $socket->bind_transceiver_resp(seq => $pdu->{seq}, system_id => 'net-smpp-smsc');
        } elsif ($cmd == Net::SMPP::CMD_submit_sm) {
            print $log join(' ', 'submit', $connection_of{$socket}, $pdu->{destination_addr}, unpack('H*', $pdu->{short_message})), "\n";
            push @due, [time + $delay_ms / 1000, $socket, $pdu->{seq}, 'nsm' . ++$ids];
        } elsif ($cmd == Net::SMPP::CMD_enquire_link) {
            $socket->enquire_link_resp(seq => $pdu->{seq});
        } elsif ($cmd == Net::SMPP::CMD_unbind) {
            $socket->unbind_resp(seq => $pdu->{seq});
            drop($socket);
        }
    }
    while (@due && $due[0][0] <= time) {
        my $answer = shift @due;
        $answer->[1]->submit_sm_resp(seq => $answer->[2], message_id => $answer->[3]);
    }
}
