# Self-test of the Test::Nginx::Socket file format as used by this project.
# Plain nginx only (no project module), so it runs on any nginx build.

use Test::Nginx::Socket;

repeat_each(2);
workers(1);
worker_connections(128);
master_on();
log_level('debug');
env_to_nginx('DS_SELFTEST=1');

# subtests per block (see t/harness/README.md for the counting rules):
#  1:4  2:5  3:3  4:2  5:4  6:9  7:6  8:2  9:4  10:4  11:6  12:1  13:2  14:2  15:2
# (error log checks run once per request, also for pipelined requests)
plan tests => repeat_each() * 56;

# a custom section consumed by a preprocessor: "--- body_is" sets the
# expected response body
add_block_preprocessor(sub {
    my $block = shift;
    if (defined(my $b = $block->body_is)) {
        $block->set_value('response_body', $b);
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: plain return, headers present and absent, client timeout
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_headers
Content-Type: text/plain
!X-Not-There
--- response_body
hello
--- timeout: 2s



=== TEST 2: 404 from a missing file is logged
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /missing.html
--- error_code: 404
--- response_body_like: 404 Not Found
--- error_log
open() "
--- no_error_log
[alert]
[crit]



=== TEST 3: main_config, http_config, post_main_config, server_name
--- main_config
pcre_jit on;
--- http_config
map $uri $mapped {
    default "m";
}
--- post_main_config
# nothing after the http block
--- server_name: example.test
--- config
    location = /conf {
        add_header X-Srv $server_name;
        return 200 "$mapped $server_name\n";
    }
--- request
GET /conf
--- response_headers_like
X-Srv: ex[a-z]+\.test
--- response_body
m example.test



=== TEST 4: request body and more_headers ($TEST_NGINX_ expansion)
--- config
    location = /echo {
        proxy_set_header X-Body $request_body;
        proxy_set_header X-Len $http_content_length;
        proxy_set_header X-Foo $http_x_foo;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/dump;
    }
    location = /dump {
        return 200 "len=$http_x_len body=$http_x_body foo=$http_x_foo\n";
    }
--- more_headers
X-Foo: bar
--- request
POST /echo
hello world
--- response_body
len=11 body=hello world foo=bar



=== TEST 5: raw_request is sent as-is
--- config
    location = /t {
        return 200 "hello\n";
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- raw_response_headers_like: ^HTTP/1\.1 200 OK\r\n
--- raw_response_headers_unlike: Transfer-Encoding
--- response_body
hello



=== TEST 6: request array: per-request expectations; each error log check sees what was logged since the previous one
--- config
    location = /a {
        return 200 "a\n";
    }
--- request eval
["GET /b", "GET /a", "GET /b"]
--- error_code eval
[404, 200, 404]
--- response_body eval
[qr/404 Not Found/, "a\n", qr/404 Not Found/]
--- grep_error_log eval
qr/open\(\) "[^"]+" failed/
--- grep_error_log_out eval
qr/^(?:open\(\) "[^"]+\/html\/b" failed\n)?\z/



=== TEST 7: pipelined requests on one connection
--- config
    location = /a {
        return 200 "a\n";
    }
    location = /b {
        return 200 "b\n";
    }
--- pipelined_requests eval
["GET /a", "GET /b"]
--- response_body eval
["a\n", "b\n"]
--- no_error_log
[error]



=== TEST 8: a request split into packets, with a delay
--- config
    location = /echo {
        proxy_set_header X-Body $request_body;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/dump;
    }
    location = /dump {
        return 200 "body=$http_x_body\n";
    }
--- request eval
[["POST /echo\nhel", {value => "lo", delay_before => 0.1}]]
--- response_body
body=hello



=== TEST 9: chunked response is decoded; the default index.html is the real framework's
--- config
    location /sub/ {
        alias html/;
        sub_filter_types *;
        sub_filter 'works' 'chunks';
    }
--- request
GET /sub/index.html
--- response_headers
Transfer-Encoding: chunked
Content-Length:
--- response_body chomp
<html><head><title>It chunks!</title></head><body>It works!</body></html>



=== TEST 10: user_files and init
--- config
--- user_files
>>> u.txt
user file
--- init
open my $fh, '>', html_dir() . '/init.txt' or die $!;
print $fh "from init\n";
close $fh;
--- request eval
["GET /u.txt", "GET /init.txt"]
--- response_body eval
["user file\n", "from init\n"]



=== TEST 11: error_log eval (array, qr//), grep_error_log, error_code_like
--- log_level: info
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /missing2
--- error_code_like: ^40\d$
--- response_body_unlike: hello
--- error_log eval
[qr/open\(\) ".*missing2" failed/, "No such file or directory"]
--- no_error_log eval
qr/\[emerg\]/
--- grep_error_log eval
qr/No such file or directory/
--- grep_error_log_out
No such file or directory



=== TEST 12: client timeout with abort, ignore_response and wait
--- config
    location = /echo {
        proxy_set_header X-Body $request_body;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/dump;
    }
    location = /dump {
        return 200 "body=$http_x_body\n";
    }
--- raw_request eval
"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc"
--- timeout: 300ms
--- abort
--- ignore_response
--- wait: 0.3
--- error_log
client prematurely closed connection



=== TEST 13: comment lines before the request line, HTTP/1.0
--- config
    location = /t {
        return 200 "hello $server_protocol\n";
    }
--- request
# a comment
GET /t HTTP/1.0
--- response_body
hello HTTP/1.0



=== TEST 14: no config section: the previous one is reused; custom section
--- request
GET /t
--- body_is
hello HTTP/1.1



=== TEST 15: init runs in package Test::Nginx::Util, under strict, once per block
--- config
    location = /pkg.txt {
        alias html/pkg.txt;
    }
--- init
open my $fh, '>>', html_dir() . '/pkg.txt' or die $!;
print $fh __PACKAGE__, ' ', (eval '$undeclared_in_init = 1; 1' ? 'lax' : 'strict'), "\n";
close $fh;
--- request
GET /pkg.txt
--- response_body
Test::Nginx::Util strict
