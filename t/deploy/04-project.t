# Project checks on the rendered manifests: KEDA triggers use the real
# metadata keys and the contract's figures; names, labels, selectors and ports
# agree across Deployments, Services, Ingress, NetworkPolicies, PDBs and
# ScaledObjects; probes, security contexts, resources and shutdown timing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use DeployTest qw(repo docs node_ready have_cmd find_obj objs containers env_map);

plan skip_all => 'kubectl is not installed' unless have_cmd('kubectl');
my $why = node_ready();
plan skip_all => "node packages unavailable: $why" if $why;

my $NS = 'datastream';
my $docs = docs('eks-debezium');    # the superset: base + eks + debezium component
my %dep = map { $_->{metadata}{name} => $_ } objs($docs, 'Deployment');
my %svc = map { $_->{metadata}{name} => $_ } objs($docs, 'Service');

sub subset {   # every key/value of $sel is in $labels
    my ($sel, $labels) = @_;
    return 0 unless $sel && %$sel;
    for (keys %$sel) { return 0 unless defined $labels->{$_} && $labels->{$_} eq $sel->{$_} }
    return 1;
}
sub pods_selected {   # names of Deployments whose pod labels match a selector
    my ($sel) = @_;
    return grep { subset($sel, $dep{$_}{spec}{template}{metadata}{labels}) } sort keys %dep;
}
sub container_ports {   # name => number and number => number, of every container
    my ($d) = @_;
    my %p;
    for my $c (containers($d)) {
        for (@{ $c->{ports} // [] }) {
            $p{ $_->{containerPort} } = $_->{containerPort};
            $p{ $_->{name} } = $_->{containerPort} if $_->{name};
        }
    }
    return %p;
}
sub seconds { my ($v) = @_; $v =~ /^(\d+)s?$/ ? $1 : die "not seconds: $v" }

# ---------------------------------------------------------------- namespace
ok(find_obj($docs, 'Namespace', $NS), "Namespace $NS is rendered");
for my $o (grep { $_->{kind} ne 'Namespace' } @$docs) {
    is($o->{metadata}{namespace}, $NS, "$o->{kind}/$o->{metadata}{name} is in namespace $NS");
}

# ---------------------------------------------------------------- deployments
for my $name (qw(backend consumer redis nats)) {
    ok($dep{$name}, "Deployment $name exists");
}
for my $name (sort keys %dep) {
    my $d = $dep{$name};
    ok(subset($d->{spec}{selector}{matchLabels}, $d->{spec}{template}{metadata}{labels}),
       "Deployment $name: selector matches its pod labels");
    my $spec = $d->{spec}{template}{spec};
    for my $c (containers($d)) {
        my $sc = $c->{securityContext} // {};
        ok(($spec->{securityContext}{runAsNonRoot} // $sc->{runAsNonRoot}), "Deployment $name/$c->{name}: runAsNonRoot");
        ok(defined $sc->{allowPrivilegeEscalation} && !$sc->{allowPrivilegeEscalation},
           "Deployment $name/$c->{name}: allowPrivilegeEscalation false");
        ok($sc->{readOnlyRootFilesystem}, "Deployment $name/$c->{name}: readOnlyRootFilesystem");
        is_deeply($sc->{capabilities}{drop}, ['ALL'], "Deployment $name/$c->{name}: drops ALL capabilities");
        ok($c->{resources}{requests}{cpu} && $c->{resources}{requests}{memory},
           "Deployment $name/$c->{name}: has cpu and memory requests");
        my %ports = container_ports($d);
        for my $probe (qw(startupProbe livenessProbe readinessProbe)) {
            my $p = $c->{$probe} or next;
            my $port = ($p->{httpGet} // $p->{tcpSocket} // {})->{port};
            next unless defined $port;
            ok(exists $ports{$port}, "Deployment $name/$c->{name}: $probe port $port is a container port");
        }
        for my $ref (map { $_->{valueFrom}{secretKeyRef} // () } @{ $c->{env} // [] }) {
            like($ref->{name}, qr/^datastream-(secrets|token|nats)$/, "Deployment $name/$c->{name}: secret ref $ref->{name} is one the overlay makes");
        }
    }
    for my $v (@{ $spec->{volumes} // [] }) {
        if ($v->{configMap}) {
            ok(find_obj($docs, 'ConfigMap', $v->{configMap}{name}),
               "Deployment $name: ConfigMap $v->{configMap}{name} exists (generated, hashed)");
        }
        if ($v->{persistentVolumeClaim}) {
            ok(find_obj($docs, 'PersistentVolumeClaim', $v->{persistentVolumeClaim}{claimName}),
               "Deployment $name: PVC $v->{persistentVolumeClaim}{claimName} exists");
            is($d->{spec}{strategy}{type}, 'Recreate', "Deployment $name: Recreate (ReadWriteOnce volume)");
        }
    }
}

# ---------------------------------------------------------------- probes on real endpoints
my ($be) = containers($dep{backend});
my ($co) = containers($dep{consumer});
my %be_ports = container_ports($dep{backend});
my %co_ports = container_ports($dep{consumer});
is($be_ports{http}, 3000, 'backend: container port http is 3000');
ok(!grep({ $_ == 3001 } values %be_ports), 'backend: the publisher port 3001 is not a container port');
is($co_ports{metrics}, 8090, 'consumer: container port metrics is 8090');
for ([$be, 'backend', 3000, \%be_ports], [$co, 'consumer', 8090, \%co_ports]) {
    my ($c, $n, $port, $ports) = @$_;
    is($c->{readinessProbe}{httpGet}{path}, '/readyz', "$n: readiness probe is /readyz");
    is($c->{livenessProbe}{httpGet}{path}, '/healthz', "$n: liveness probe is /healthz");
    is($c->{startupProbe}{httpGet}{path}, '/healthz', "$n: startup probe is /healthz");
    is($ports->{ $c->{$_}{httpGet}{port} }, $port, "$n: $_ on port $port")
        for qw(readinessProbe livenessProbe startupProbe);
}

# ---------------------------------------------------------------- resources (contract section 7)
is_deeply($be->{resources}, { requests => { cpu => '100m', memory => '128Mi' },
                              limits   => { cpu => '500m', memory => '512Mi' } },
          'backend resources: 100m/128Mi request, 500m/512Mi limit');
is_deeply($co->{resources}, { requests => { cpu => '50m', memory => '64Mi' },
                              limits   => { cpu => '200m', memory => '256Mi' } },
          'consumer resources: 50m/64Mi request, 200m/256Mi limit');

# ---------------------------------------------------------------- env agrees with ports
my %be_env = env_map($be);
my %co_env = env_map($co);
is($be_env{DS_HTTP_PORT}, $be_ports{http}, 'backend: DS_HTTP_PORT is the http container port');
ok(!defined $be_env{DS_PUBLISH_ADDR}, 'backend: the publisher keeps its loopback address (nothing connects from outside)');
is($co_env{METRICS_PORT}, $co_ports{metrics}, 'consumer: METRICS_PORT is the metrics container port');
is($co_env{METRICS_ADDR}, '0.0.0.0', 'consumer: METRICS_ADDR lets the kubelet probe it');
ok(grep({ $_->{name} eq 'DATASTREAM_TOKEN_SECRET' && $_->{valueFrom}{secretKeyRef} } @{ $be->{env} }),
   'backend: DATASTREAM_TOKEN_SECRET comes from the secret');

sub url_target {   # scheme://host:port/... -> (host, port)
    my ($url) = @_;
    $url =~ m{^\w+://([^/:]+):(\d+)} or return;
    return ($1, $2);
}
for ([NATS_URL => 'nats', 'client']) {
    my ($var, $target, $cport) = @$_;
    my ($host, $port) = url_target($co_env{$var} // '');
    ok($host, "consumer: $var names host and port") or next;
    my ($svc_name) = split /\./, $host;
    my $s = $svc{$svc_name};
    ok($s, "consumer: $var host $host is Service $svc_name") or next;
    my ($sp) = grep { $_->{port} == $port } @{ $s->{spec}{ports} };
    ok($sp, "consumer: $var port $port is a port of Service $svc_name") or next;
    my %tp = container_ports($dep{$target});
    is($tp{ $sp->{targetPort} }, $tp{$cport}, "consumer: $var reaches $target container port $cport");
}

# ---------------------------------------------------------------- services
for my $name (sort keys %svc) {
    my $s = $svc{$name};
    my @sel = pods_selected($s->{spec}{selector});
    is(scalar @sel, 1, "Service $name selects the pods of exactly one Deployment") or next;
    my %ports = container_ports($dep{ $sel[0] });
    for my $p (@{ $s->{spec}{ports} }) {
        ok(exists $ports{ $p->{targetPort} // $p->{port} },
           "Service $name port $p->{port}: target $p->{targetPort} is a container port of $sel[0]");
    }
}
is_deeply([map { $_->{port} } @{ $svc{backend}{spec}{ports} }], [3000], 'Service backend exposes 3000 only');
is_deeply([sort map { $_->{port} } @{ $svc{nats}{spec}{ports} }], [4222, 8222, 8443],
          'Service nats exposes 4222, 8222, 8443');
is_deeply([map { $_->{port} } @{ $svc{redis}{spec}{ports} }], [6379], 'Service redis exposes 6379');

# Go would size its scheduler to the node's cores and be throttled by the pod's CPU quota.
my ($nats_c) = containers($dep{nats});
my ($maxprocs) = grep { $_->{name} eq 'GOMAXPROCS' } @{ $nats_c->{env} // [] };
is_deeply($maxprocs && $maxprocs->{valueFrom}{resourceFieldRef},
          { resource => 'limits.cpu', divisor => '1' },
          'nats: GOMAXPROCS comes from the container\'s CPU limit');
ok($nats_c->{resources}{limits}{cpu}, 'nats: the container has a CPU limit for GOMAXPROCS to follow');

# ---------------------------------------------------------------- ingress (ALB)
my @ing = objs($docs, 'Ingress');
is(scalar @ing, 1, 'one Ingress');
my $ing = $ing[0];
is($ing->{metadata}{name}, 'datastream', 'the Ingress is named datastream (kubectl get ingress datastream)');
my $a = $ing->{metadata}{annotations};
is($ing->{spec}{ingressClassName}, 'alb', 'Ingress class alb');
is($ing->{spec}{rules}[0]{host}, 'datastream.hypetech.games', 'Ingress host datastream.hypetech.games');
my @paths = map { @{ $_->{http}{paths} } } @{ $ing->{spec}{rules} };
for my $p (@paths) {
    is($p->{backend}{service}{name}, 'backend', "Ingress path $p->{path} goes to Service backend");
    is($p->{backend}{service}{port}{number}, 3000, "Ingress path $p->{path} goes to port 3000 (never the publisher)");
}
is($a->{'alb.ingress.kubernetes.io/target-type'}, 'ip', 'ALB target-type ip');
is($a->{'alb.ingress.kubernetes.io/ssl-redirect'}, '443', 'ALB ssl-redirect to 443');
like($a->{'alb.ingress.kubernetes.io/listen-ports'}, qr/"HTTPS"\s*:\s*443/, 'ALB listens on HTTPS 443');
is($a->{'alb.ingress.kubernetes.io/healthcheck-path'}, '/readyz', 'ALB health check path /readyz');
my ($idle) = ($a->{'alb.ingress.kubernetes.io/load-balancer-attributes'} // '') =~ /idle_timeout\.timeout_seconds=(\d+)/;
my ($dereg) = ($a->{'alb.ingress.kubernetes.io/target-group-attributes'} // '') =~ /deregistration_delay\.timeout_seconds=(\d+)/;
ok($idle, 'ALB idle timeout is set');
ok($dereg, 'ALB deregistration delay is set');

# Ping intervals and keepalive from the nginx configuration the ConfigMap ships.
my $cm = (grep { $_->{metadata}{name} =~ /^backend-nginx-/ } objs($docs, 'ConfigMap'))[0];
my $sub = $cm->{data}{'datastream-subscriber.conf'} // '';
my $tpl = $cm->{data}{'nginx.conf.template'} // '';
my ($ws_ping) = $sub =~ /nchan_websocket_ping_interval\s+(\d+)/;
my ($sse_ping) = $sub =~ /datastream_sse_heartbeat\s+(\d+)s;/;
my ($keepalive) = $tpl =~ /keepalive_timeout\s+(\d+)s?;/;
ok($ws_ping && $sse_ping, "ping intervals found in the ConfigMap (ws $ws_ping s, sse $sse_ping s)");
cmp_ok($idle, '>', $ws_ping, 'ALB idle timeout is above the WebSocket ping interval');
cmp_ok($idle, '>', $sse_ping, 'ALB idle timeout is above the SSE ping interval');
cmp_ok($idle, '<', $keepalive, 'ALB idle timeout is below nginx keepalive_timeout (no 502 on reused connections)');

# ---------------------------------------------------------------- graceful shutdown order
# nginx must have closed every subscriber itself (WebSocket 1001, SSE end of
# stream) before the ALB force-closes what is left of a deregistered target,
# and the pod must outlive the deregistration: t/e2e/112-rollout.t plays it.
my $margin = 5;
my $be_spec = $dep{backend}{spec}{template}{spec};
my $pre = $be->{lifecycle}{preStop}{exec}{command} // [];
my ($sleep) = ("@$pre" =~ /^sleep (\d+)$/);
ok($sleep, 'backend: preStop sleeps');
my $wst = seconds($be_env{DS_NGINX_SHUTDOWN_TIMEOUT} // die 'DS_NGINX_SHUTDOWN_TIMEOUT unset');
cmp_ok($sleep + $wst + $margin, '<', $dereg,
       "backend: preStop $sleep s + worker_shutdown_timeout $wst s + $margin s is below the ALB deregistration delay $dereg s");
cmp_ok($dereg, '<', $be_spec->{terminationGracePeriodSeconds},
       'backend: the ALB deregistration delay is below terminationGracePeriodSeconds');
cmp_ok($co_env{SHUTDOWN_GRACE} + $margin, '<', $dep{consumer}{spec}{template}{spec}{terminationGracePeriodSeconds},
       "consumer: SHUTDOWN_GRACE + $margin s is below terminationGracePeriodSeconds");
like($tpl, qr/worker_shutdown_timeout \$\{DS_NGINX_SHUTDOWN_TIMEOUT\}/,
     'nginx template takes worker_shutdown_timeout from DS_NGINX_SHUTDOWN_TIMEOUT');

# ---------------------------------------------------------------- network policies
my @np = objs($docs, 'NetworkPolicy');
for my $np (@np) {
    my $n = $np->{metadata}{name};
    my @sel = pods_selected($np->{spec}{podSelector}{matchLabels});
    is(scalar @sel, 1, "NetworkPolicy $n selects the pods of one Deployment") or next;
    my %ports = container_ports($dep{ $sel[0] });
    for my $rule (@{ $np->{spec}{ingress} // [] }) {
        for my $from (@{ $rule->{from} // [] }) {
            next unless $from->{podSelector};
            ok(scalar pods_selected($from->{podSelector}{matchLabels}),
               "NetworkPolicy $n: a from podSelector matches existing pods");
        }
        for my $p (@{ $rule->{ports} // [] }) {
            ok(exists $ports{ $p->{port} }, "NetworkPolicy $n: port $p->{port} is a container port of $sel[0]");
        }
    }
}
my ($bnp) = grep { subset($_->{spec}{podSelector}{matchLabels}, $dep{backend}{spec}{template}{metadata}{labels}) } @np;
ok($bnp, 'a NetworkPolicy selects the backend pods');
ok(grep({ $_ eq 'Ingress' } @{ $bnp->{spec}{policyTypes} // [] }), 'backend NetworkPolicy restricts ingress');
is_deeply([ map { map { $_->{port} } @{ $_->{ports} // [] } } @{ $bnp->{spec}{ingress} } ], [3000],
          'backend NetworkPolicy admits the public port only');
my ($nnp) = grep { subset($_->{spec}{podSelector}{matchLabels}, $dep{nats}{spec}{template}{metadata}{labels}) } @np;
ok($nnp, 'a NetworkPolicy selects the nats pods');
my %nats_from;    # port => sorted list of who may connect
for my $rule (@{ $nnp->{spec}{ingress} // [] }) {
    my @who = map { $_->{namespaceSelector} ? 'namespace ' . $_->{namespaceSelector}{matchLabels}{'kubernetes.io/metadata.name'}
                                            : pods_selected($_->{podSelector}{matchLabels}) } @{ $rule->{from} // [] };
    push @{ $nats_from{ $_->{port} } }, @who for @{ $rule->{ports} // [] };
}
is_deeply([sort @{ $nats_from{4222} // [] }], [qw(consumer debezium)], 'nats client port: consumer and Debezium pods only');
is_deeply([sort @{ $nats_from{8222} // [] }], ['consumer', 'namespace keda'], 'nats monitoring port: consumer pods and the KEDA operator namespace');
ok(!$nats_from{8443}, 'nats WebSocket port: admitted from nowhere (not offered on EKS)');

# ---------------------------------------------------------------- PDBs
for my $pdb (objs($docs, 'PodDisruptionBudget')) {
    my @sel = pods_selected($pdb->{spec}{selector}{matchLabels});
    is(scalar @sel, 1, "PodDisruptionBudget $pdb->{metadata}{name} selects the pods of one Deployment");
}
ok((grep { $_ eq 'backend' } map { pods_selected($_->{spec}{selector}{matchLabels}) } objs($docs, 'PodDisruptionBudget')),
   'backend has a PodDisruptionBudget');
ok((grep { $_ eq 'consumer' } map { pods_selected($_->{spec}{selector}{matchLabels}) } objs($docs, 'PodDisruptionBudget')),
   'consumer has a PodDisruptionBudget');

# ---------------------------------------------------------------- KEDA
my %allowed = (
    'nats-jetstream' => [qw(natsServerMonitoringEndpoint account stream consumer lagThreshold
                           activationLagThreshold useHttps)],
    cpu    => [qw(value containerName)],
    memory => [qw(value containerName)],
);
my %so = map { $_->{metadata}{name} => $_ } objs($docs, 'ScaledObject');
is_deeply([sort keys %so], [qw(backend-scaledobject consumer-scaledobject)], 'ScaledObjects: backend and consumer');
my %scaled;
for my $name (sort keys %so) {
    my $s = $so{$name}{spec};
    my $t = $s->{scaleTargetRef};
    is($t->{kind} // 'Deployment', 'Deployment', "$name scales a Deployment");
    ok($dep{ $t->{name} }, "$name: target Deployment $t->{name} exists");
    $scaled{ $t->{name} } = 1;
    ok(!exists $dep{ $t->{name} }{spec}{replicas}, "Deployment $t->{name} (KEDA-scaled) sets no spec.replicas");
    is($s->{minReplicaCount}, 1, "$name: minReplicaCount 1");
    is($s->{maxReplicaCount}, 5, "$name: maxReplicaCount 5");
    for my $tr (@{ $s->{triggers} }) {
        ok($allowed{ $tr->{type} }, "$name: trigger type $tr->{type} is known") or next;
        my %ok = map { $_ => 1 } @{ $allowed{ $tr->{type} } };
        for my $k (sort keys %{ $tr->{metadata} }) {
            ok($ok{$k}, "$name: $tr->{type} metadata key '$k' is a real one");
            like($tr->{metadata}{$k}, qr/^\S+$/, "$name: $tr->{type} metadata '$k' is a non-empty string")
                unless ref $tr->{metadata}{$k};
        }
        if ($tr->{type} eq 'cpu' || $tr->{type} eq 'memory') {
            is($tr->{metricType}, 'Utilization', "$name: $tr->{type} metricType Utilization (trigger level)");
            if (my $cn = $tr->{metadata}{containerName}) {
                ok(grep({ $_->{name} eq $cn } containers($dep{ $t->{name} })),
                   "$name: containerName $cn is a container of $t->{name}");
            }
        }
    }
}
my $cso = $so{'consumer-scaledobject'}{spec};
is($cso->{scaleTargetRef}{name}, 'consumer', 'consumer-scaledobject scales consumer');
is($cso->{pollingInterval}, 15, 'consumer-scaledobject: pollingInterval 15');
is($cso->{cooldownPeriod}, 60, 'consumer-scaledobject: cooldownPeriod 60');
is($cso->{advanced}{horizontalPodAutoscalerConfig}{behavior}{scaleDown}{stabilizationWindowSeconds}, 60,
   'consumer-scaledobject: scale-in after 60 s (the HPA window; cooldownPeriod only governs scaling to zero)');
my ($nt) = grep { $_->{type} eq 'nats-jetstream' } @{ $cso->{triggers} };
ok($nt, 'consumer-scaledobject: nats-jetstream trigger');
my $m = $nt->{metadata};
is($m->{natsServerMonitoringEndpoint}, 'nats.datastream.svc.cluster.local:8222', 'nats-jetstream: monitoring endpoint');
is($m->{account}, '$G', 'nats-jetstream: account $G');
is($m->{stream}, 'DebeziumStream', 'nats-jetstream: stream DebeziumStream');
is($m->{consumer}, 'cdc-public-rounds', 'nats-jetstream: consumer cdc-public-rounds');
is($m->{lagThreshold}, '100', 'nats-jetstream: lagThreshold 100');
is($m->{activationLagThreshold}, '10', 'nats-jetstream: activationLagThreshold 10');
my ($ep_host, $ep_port) = split /:/, $m->{natsServerMonitoringEndpoint};
my ($ep_svc, $ep_ns) = split /\./, $ep_host;
is($ep_ns, $NS, 'nats-jetstream endpoint is in the namespace');
ok($svc{$ep_svc} && grep({ $_->{port} == $ep_port } @{ $svc{$ep_svc}{spec}{ports} }),
   "nats-jetstream endpoint is Service $ep_svc port $ep_port");
my %nats_ports = container_ports($dep{nats});
is($nats_ports{monitor}, 8222, 'nats: monitoring container port 8222');
is($m->{stream}, $co_env{STREAM} // 'DebeziumStream', "nats-jetstream stream is the consumer's STREAM");
is($m->{consumer}, $co_env{DURABLE_ROUNDS} // 'cdc-public-rounds', "nats-jetstream consumer is the consumer's DURABLE_ROUNDS");

my $bso = $so{'backend-scaledobject'}{spec};
is($bso->{scaleTargetRef}{name}, 'backend', 'backend-scaledobject scales backend');
my %bt = map { $_->{type} => $_ } @{ $bso->{triggers} };
is($bt{cpu}{metadata}{value}, '70', 'backend-scaledobject: cpu 70 %');
is($bt{memory}{metadata}{value}, '80', 'backend-scaledobject: memory 80 %');
for my $name (qw(redis nats)) {
    ok(!$scaled{$name}, "$name is not KEDA-scaled");
    is($dep{$name}{spec}{replicas}, 1, "$name runs one replica");
}

# ---------------------------------------------------------------- secrets
my $es = find_obj($docs, 'ExternalSecret', 'datastream-secrets');
ok($es, 'ExternalSecret datastream-secrets');
is($es->{apiVersion}, 'external-secrets.io/v1', 'ExternalSecret API external-secrets.io/v1');
is($es->{spec}{target}{name} // 'datastream-secrets', 'datastream-secrets', 'ExternalSecret target datastream-secrets');
# The secret as AWS Secrets Manager holds it: properties redis_url and
# database_url, read through the cluster's ClusterSecretStore.
my %es_keys = map { $_->{secretKey} => $_->{remoteRef} } @{ $es->{spec}{data} };
is_deeply([sort keys %es_keys], [qw(DATABASE_URL REDIS_URL)], 'ExternalSecret datastream-secrets: REDIS_URL and DATABASE_URL only');
for ([REDIS_URL => 'redis_url'], [DATABASE_URL => 'database_url']) {
    my ($k, $prop) = @$_;
    is($es_keys{$k}{key}, 'datastream/prod', "ExternalSecret: $k from datastream/prod");
    is($es_keys{$k}{property}, $prop, "ExternalSecret: $k from property $prop");
}
is_deeply($es->{spec}{secretStoreRef}, { name => 'aws-secrets-manager', kind => 'ClusterSecretStore' },
          'ExternalSecret reads the ClusterSecretStore aws-secrets-manager');
ok(!objs($docs, 'SecretStore'), 'no namespaced SecretStore is shipped');
# The token key is generated in the cluster once, so nothing else must exist.
my $ts = find_obj($docs, 'ExternalSecret', 'datastream-token');
ok($ts, 'ExternalSecret datastream-token');
is($ts->{spec}{refreshPolicy}, 'CreatedOnce', 'datastream-token: generated once, never rotated under running pods');
ok(!$ts->{spec}{secretStoreRef}, 'datastream-token: no secret store involved');
my $gen = $ts->{spec}{dataFrom}[0]{sourceRef}{generatorRef} // {};
my $pw = find_obj($docs, $gen->{kind} // '', $gen->{name} // '');
ok($pw, "datastream-token: generator $gen->{kind}/$gen->{name} exists");
cmp_ok($pw->{spec}{length}, '>=', 32, 'generated token key: at least 32 characters') if $pw;
is(($ts->{spec}{target}{template}{data} // {})->{DATASTREAM_TOKEN_SECRET}, '{{ .password }}',
   'datastream-token: DATASTREAM_TOKEN_SECRET is the generated password');

# NATS: one generated password per user of conf/nats/nats-server.conf, each
# handed to the nats pod and to the one party that logs in as that user.
my @nats_users = do { local (@ARGV, $/) = repo() . '/conf/nats/nats-server.conf'; <> } =~ /^\s*user: (\w+)$/mg;
is_deeply([sort @nats_users], [qw(consumer debezium operator subscriber)], 'conf/nats defines the four NATS users');
my $ns = find_obj($docs, 'ExternalSecret', 'datastream-nats');
ok($ns, 'ExternalSecret datastream-nats');
is($ns->{spec}{refreshPolicy}, 'CreatedOnce', 'datastream-nats: generated once (nats reads passwords at start)');
my %nats_keys;
for my $from (@{ $ns->{spec}{dataFrom} // [] }) {
    my $g = $from->{sourceRef}{generatorRef} // {};
    my $gp = find_obj($docs, $g->{kind} // '', $g->{name} // '');
    ok($gp && $gp->{spec}{length} >= 32 && $gp->{spec}{digits} == 0 && $gp->{spec}{symbols} == 0,
       'datastream-nats: each password from a generator of 32+ letters, no digits or symbols');
    my @rw = map { $_->{regexp} } @{ $from->{rewrite} // [] };
    is(scalar @rw, 1, 'datastream-nats: each generated password renamed once') or next;
    is($rw[0]{source}, '^password$', "datastream-nats: the generator's key password is renamed");
    $nats_keys{ $rw[0]{target} }++;
}
is_deeply(\%nats_keys, { map { ($_ => 1) } @nats_users }, 'datastream-nats: one key per NATS user');
for my $u (@nats_users) {
    my ($e) = grep { $_->{name} eq 'DS_NATS_' . uc($u) . '_PASSWORD' } @{ (containers($dep{nats}))[0]{env} };
    is_deeply($e && $e->{valueFrom}{secretKeyRef}, { name => 'datastream-nats', key => $u },
              "nats: DS_NATS_\U$u\E_PASSWORD from datastream-nats/$u");
}
for ([consumer => 'NATS_USER', 'NATS_PASSWORD', 'consumer'], [debezium => 'DS_NATS_USER', 'DS_NATS_PASSWORD', 'debezium']) {
    my ($dname, $uvar, $pvar, $user) = @$_;
    my ($c) = containers($dep{$dname});
    my ($u) = grep { $_->{name} eq $uvar } @{ $c->{env} };
    my ($pw) = grep { $_->{name} eq $pvar } @{ $c->{env} };
    is($u && $u->{value}, $user, "$dname: logs in to NATS as $user");
    is_deeply($pw && $pw->{valueFrom}{secretKeyRef}, { name => 'datastream-nats', key => $user },
              "$dname: with the password from datastream-nats/$user");
}

my %provided = (map({ ("datastream-secrets/$_" => 1) } keys %es_keys),
                map({ ("datastream-token/$_" => 1) } keys %{ $ts->{spec}{target}{template}{data} // {} }),
                map({ ("datastream-nats/$_" => 1) } keys %nats_keys));
ok(!objs($docs, 'Secret'), 'no plain Secret objects are shipped');
for my $d (values %dep) {
    for my $c (containers($d)) {
        for my $e (grep { $_->{valueFrom}{secretKeyRef} } @{ $c->{env} // [] }) {
            my $r = $e->{valueFrom}{secretKeyRef};
            ok($provided{"$r->{name}/$r->{key}"}, "$d->{metadata}{name}: secret $r->{name} key $r->{key} is provided by an ExternalSecret");
        }
    }
}

# ---------------------------------------------------------------- images
# The project's images name a registry (the user's, set with kustomize edit
# set image; until then a reserved .invalid name), never a public namespace
# the project does not own; the others are official images.
for my $d (values %dep) {
    for my $c (containers($d)) {
        my ($first) = split m{/}, $c->{image};
        if ($c->{image} =~ m{datastream/}) {
            like($first, qr/\./, "$d->{metadata}{name}: image $c->{image} names a registry host");
        } else {
            ok($c->{image} !~ m{/} || $c->{image} =~ m{^debezium/}, "$d->{metadata}{name}: image $c->{image} is an official one");
        }
    }
}

# ---------------------------------------------------------------- placement and memory
for my $name (qw(backend consumer)) {
    my ($tsc) = grep { $_->{topologyKey} eq 'topology.kubernetes.io/zone' }
                @{ $dep{$name}{spec}{template}{spec}{topologySpreadConstraints} // [] };
    ok($tsc, "$name: replicas spread across zones");
    ok($tsc && subset($tsc->{labelSelector}{matchLabels}, $dep{$name}{spec}{template}{metadata}{labels}),
       "$name: the spread constraint selects its own pods");
}
my ($rc) = containers($dep{redis});
my ($maxmem) = "@{ $rc->{args} // [] }" =~ /--maxmemory (\d+)mb/;
my ($limit) = ($rc->{resources}{limits}{memory} // '') =~ /^(\d+)Gi$/;
ok($maxmem && $limit, "redis: maxmemory ($maxmem mb) and a memory limit ($limit Gi) are set");
cmp_ok($maxmem, '<=', $limit * 1024 / 2, 'redis: maxmemory leaves half the limit for an AOF rewrite fork');
my $rcm = (grep { $_->{metadata}{name} =~ /^redis-config-/ } objs($docs, 'ConfigMap'))[0];
like($rcm->{data}{'redis.conf'} // '', qr/^maxmemory-policy noeviction$/m, 'redis: noeviction, never a silently evicted read-model key');

done_testing;
