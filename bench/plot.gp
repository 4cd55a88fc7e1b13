# gnuplot script for bench/plot.sh: dir holds <scenario>-<set-up>.dat files
# ("N value" lines), out is the SVG to write.
set terminal svg size 1100,460 dynamic font "sans,11"
set output out
set multiplot layout 1,2 title "Herald vs nginx + nchan (same run, 2-core host)"
set key top left opaque font ",9"
set grid
set xlabel "subscribers (N)"
set logscale x
set xrange [500:10000]
set yrange [0:*]
set title "publish-to-receive p99, 1 event/s"
set ylabel "ms"
plot dir."/latency-gateway.dat" w lp t "Herald via gateway", \
     dir."/latency-link.dat" w lp t "Herald via gateway + herald-link", \
     dir."/latency-notifier.dat" w lp t "Herald notifier", \
     dir."/latency-nchan.dat" w lp t "nginx + nchan", \
     dir."/latency-nchan-link.dat" w lp dt 2 t "nginx + nchan (link session)"
set title "fan-out: delivered events/s, 100-byte broadcasts (log scale)"
set logscale y
set yrange [*:*]
set key bottom right opaque font ",9"
set ylabel "events/s"
plot dir."/fanout-gateway.dat" w lp t "Herald via gateway", \
     dir."/fanout-link.dat" w lp t "Herald via gateway + herald-link", \
     dir."/fanout-notifier.dat" w lp t "Herald notifier", \
     dir."/fanout-nchan.dat" w lp t "nginx + nchan", \
     dir."/fanout-nchan-link.dat" w lp dt 2 t "nginx + nchan (link session)"
unset multiplot
