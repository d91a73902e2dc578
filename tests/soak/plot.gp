# plot.gp: the soak run's series over time (tests/soak/run.sh; data from tests/soak/report.py).
#   gnuplot -e "datafile='plot.dat'; outfile='soak.svg'" tests/soak/plot.gp   (.png: a PNG)
# Columns: 1 minute, 2-5 RSS MB (ingestor parser aggregator writer), 6-9 open fds (same order),
# 10 freshness p99 s, 11 parser lag, 12 aggregator lag, 13 meetup_table MB, 14 rsvp_batches MB,
# 15 rsvp_counts MB, 16 meetup_table partitions. Index 1: the faults (minute).
if (outfile[strlen(outfile)-2:] eq "png") {
    set terminal pngcairo size 1200,900 font "sans,10" background "white"
} else {
    set terminal svg size 1200,900 dynamic font "sans,11" background "white"
}
set output outfile
set datafile missing "NaN"
set termoption noenhanced
set key top left box opaque
set grid
set xlabel "minutes"
set style line 1 lc rgb "#1f77b4" lw 2
set style line 2 lc rgb "#ff7f0e" lw 2
set style line 3 lc rgb "#2ca02c" lw 2
set style line 4 lc rgb "#d62728" lw 2
set style line 5 lc rgb "#9467bd" lw 2
set style line 9 lc rgb "#999999" lw 1 dt 2
set multiplot layout 2,2 title "rsvp-pipeline soak: one sample per minute (faults: grey bars)"

set title "RSS per service (sum of replicas)"
set ylabel "MB"
set yrange [0:*]
plot datafile index 0 using 1:2 with linespoints ls 1 title "ingestor", \
     '' index 0 using 1:3 with linespoints ls 2 title "parser", \
     '' index 0 using 1:4 with linespoints ls 3 title "aggregator", \
     '' index 0 using 1:5 with linespoints ls 4 title "writer"

set title "open file descriptors per service"
set ylabel "fds"
plot datafile index 0 using 1:6 with linespoints ls 1 title "ingestor", \
     '' index 0 using 1:7 with linespoints ls 2 title "parser", \
     '' index 0 using 1:8 with linespoints ls 3 title "aggregator", \
     '' index 0 using 1:9 with linespoints ls 4 title "writer"

set title "freshness p99 (commit - ingest) and consumer lag"
set ylabel "seconds"
stats datafile index 0 using 10 nooutput
fmax = STATS_max > 0 ? STATS_max * 1.05 : 1
set y2label "messages"
set y2tics
set y2range [0:*]
plot datafile index 1 using 1:(fmax) with impulses ls 9 notitle, \
     '' index 0 using 1:10 with linespoints ls 4 title "freshness p99", \
     '' index 0 using 1:11 axes x1y2 with lines ls 2 title "parser lag", \
     '' index 0 using 1:12 axes x1y2 with lines ls 3 title "aggregator lag"
unset y2label
unset y2tics

set title "table sizes (meetup_table, rsvp_batches: partitions dropped after RETENTION)"
set ylabel "MB"
plot datafile index 0 using 1:13 with linespoints ls 1 title "meetup_table", \
     '' index 0 using 1:14 with linespoints ls 2 title "rsvp_batches", \
     '' index 0 using 1:15 with linespoints ls 3 title "rsvp_counts"
unset multiplot
