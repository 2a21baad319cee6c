# shellcheck shell=bash
# nginx-conf.sh: sourced by bench.sh and instructions.sh, which measure the
# same nginx target.

# write_nginx_config DIR LISTEN UPSTREAM AUTHORIZATION writes DIR/nginx.conf:
# one process (no master process, so the one worker is the process
# measured), proxy_pass to UPSTREAM (host:port) over a keepalive pool, and a
# static map of the Authorization header, the way a hand-written nginx
# gateway checks a shared secret: 401 without AUTHORIZATION, else forwarded
# with the header removed and X-Keygate-User and X-Forwarded-* set, as
# keygate-bearer does.
write_nginx_config() {
	local d=$1 listen=$2 upstream=$3 authorization=$4
	mkdir -p "$d/tmp" "$d/logs"
	{
		printf 'daemon off;\nmaster_process off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/logs/error.log warn;\n' "$d" "$d"
		[[ $(id -u) != 0 ]] || echo 'user root root;'
		cat <<CONF
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  keepalive_requests 1000000;
  map_hash_bucket_size 128;
  upstream bench_upstream {
    server $upstream;
    keepalive 256;
  }
  map \$http_authorization \$bench_user {
    default "";
    "$authorization" bench;
  }
  server {
    listen $listen;
    location / {
      if (\$bench_user = "") { return 401; }
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "";
      proxy_set_header X-Keygate-User \$bench_user;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
    }
  }
}
CONF
	} >"$d/nginx.conf"
}
