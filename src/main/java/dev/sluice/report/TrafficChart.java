package dev.sluice.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.XYPlot;
import org.jfree.data.time.Millisecond;
import org.jfree.data.time.TimeSeries;
import org.jfree.data.time.TimeSeriesCollection;

/**
 * Per-server traffic over time, one line per server, like the seed article's graphs. Sessions per
 * bucket when the logs have sessions, otherwise received messages. The bucket grows with the time
 * span (1 min … 1 day) so that a chart has at most about 300 points per line.
 *
 * <p>PNG is drawn by JFreeChart; SVG is written directly (JFreeChart has no SVG backend) and HTML
 * embeds that SVG. Thread-safe: instances are immutable.
 *
 * @param title chart title
 * @param unit what is counted ("sessions" or "messages")
 * @param bucketMinutes bucket width
 * @param times bucket starts, ascending
 * @param series counts per server, aligned with {@code times}
 */
public record TrafficChart(String title, String unit, int bucketMinutes, List<LocalDateTime> times,
    Map<String, long[]> series) {
  private static final int[] BUCKETS = {1, 5, 15, 60, 1440};
  private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
      new Color(0xff7f0e), new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x17becf)};

  /** Reads the per-server counts from the database. */
  public static TrafficChart from(ReportDatabase db) throws SQLException {
    boolean sessions = db.count("SELECT count(*) FROM sessions WHERE log_type <> 'send' AND server IS NOT NULL") > 0;
    String source = sessions
        ? "SELECT started AS t, server FROM sessions WHERE log_type <> 'send'"
        : "SELECT ts AS t, server FROM received";
    long spanMinutes = db.count("SELECT coalesce(date_diff('minute', min(t), max(t)), 0) FROM (" + source + ")");
    int bucket = BUCKETS[BUCKETS.length - 1];
    for (int b : BUCKETS) {
      if (spanMinutes / b <= 300) {
        bucket = b;
        break;
      }
    }
    ResultTable rows = db.query("chart", "", """
        SELECT strftime(time_bucket(INTERVAL '%d minutes', t), '%%Y-%%m-%%dT%%H:%%M') AS bucket, server, count(*) AS n
        FROM (%s) WHERE server IS NOT NULL GROUP BY ALL ORDER BY 1, 2""".formatted(bucket, source));
    TreeSet<LocalDateTime> times = new TreeSet<>();
    rows.rows().forEach(r -> times.add(LocalDateTime.parse((String) r.get(0))));
    // Fill empty buckets with zero so a quiet hour shows as a dip, not as a straight line across it.
    if (!times.isEmpty()) {
      for (LocalDateTime t = times.first(); t.isBefore(times.last()); t = t.plusMinutes(bucket)) {
        times.add(t);
      }
    }
    List<LocalDateTime> axis = new ArrayList<>(times);
    Map<String, long[]> series = new LinkedHashMap<>();
    for (List<Object> r : rows.rows()) {
      long[] counts = series.computeIfAbsent((String) r.get(1), k -> new long[axis.size()]);
      counts[axis.indexOf(LocalDateTime.parse((String) r.get(0)))] = (Long) r.get(2);
    }
    String unit = sessions ? "sessions" : "messages";
    return new TrafficChart("Traffic per server (" + unit + " per " + label(bucket) + ")", unit, bucket, axis,
        new java.util.TreeMap<>(series));
  }

  private static String label(int minutes) {
    return minutes == 1440 ? "day" : minutes == 60 ? "hour" : minutes + " min";
  }

  /** Writes PNG, SVG or HTML by the file's extension. */
  public void write(Path file) throws IOException {
    String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
    if (name.endsWith(".png")) {
      ChartUtils.saveChartAsPNG(file.toFile(), jfreeChart(), 1000, 500);
    } else if (name.endsWith(".svg")) {
      Files.writeString(file, svg(), StandardCharsets.UTF_8);
    } else if (name.endsWith(".html") || name.endsWith(".htm")) {
      Files.writeString(file, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + escape(title)
          + "</title></head>\n<body style=\"font-family:sans-serif\">\n" + svg() + "\n</body></html>\n",
          StandardCharsets.UTF_8);
    } else {
      throw new IllegalArgumentException("chart file must end in .png, .svg or .html: " + file);
    }
  }

  /** The JFreeChart rendering, one {@link TimeSeries} per server. */
  public JFreeChart jfreeChart() {
    TimeSeriesCollection data = new TimeSeriesCollection(java.util.TimeZone.getTimeZone("UTC"));
    for (Map.Entry<String, long[]> e : series.entrySet()) {
      TimeSeries ts = new TimeSeries(e.getKey());
      for (int i = 0; i < times.size(); i++) {
        ts.add(new Millisecond(java.util.Date.from(times.get(i).toInstant(ZoneOffset.UTC)),
            java.util.TimeZone.getTimeZone("UTC"), Locale.ROOT), e.getValue()[i]);
      }
      data.addSeries(ts);
    }
    JFreeChart chart = ChartFactory.createTimeSeriesChart(title, "time (UTC)", unit, data, true, false, false);
    XYPlot plot = chart.getXYPlot();
    plot.setBackgroundPaint(Color.WHITE);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
    for (int i = 0; i < series.size(); i++) {
      plot.getRenderer().setSeriesPaint(i, PALETTE[i % PALETTE.length]);
      plot.getRenderer().setSeriesStroke(i, new BasicStroke(2f));
    }
    return chart;
  }

  /** A standalone SVG: axes, grid, one {@code <polyline class="series">} per server, a legend. */
  public String svg() {
    int w = 1000, h = 500, left = 70, right = 170, top = 40, bottom = 50;
    int pw = w - left - right, ph = h - top - bottom;
    long max = Math.max(1, series.values().stream().flatMapToLong(java.util.Arrays::stream).max().orElse(1));
    int n = Math.max(1, times.size() - 1);
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        + "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">%n", w, h, w, h));
    sb.append(String.format(Locale.ROOT, "<title>%s</title>%n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n",
        escape(title), w, h));
    sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"24\" font-size=\"16\">%s</text>%n", left, escape(title)));
    for (int g = 0; g <= 4; g++) {
      double y = top + ph - ph * g / 4.0;
      sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
          + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d</text>%n", left, y, left + pw, y, left - 6, y + 4,
          Math.round(max * g / 4.0)));
    }
    int ticks = Math.min(6, times.size());
    for (int k = 0; k < ticks; k++) {
      int i = ticks == 1 ? 0 : k * (times.size() - 1) / (ticks - 1);
      double x = left + (double) pw * i / n;
      sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", x,
          top + ph + 20, times.get(i).toString().replace('T', ' ')));
    }
    sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s (UTC)</text>%n", left, h - 8, "time"));
    int s = 0;
    for (Map.Entry<String, long[]> e : series.entrySet()) {
      String color = String.format("#%06x", PALETTE[s % PALETTE.length].getRGB() & 0xffffff);
      sb.append("<polyline class=\"series\" data-server=\"").append(escape(e.getKey())).append("\" fill=\"none\" stroke=\"")
          .append(color).append("\" stroke-width=\"2\" points=\"");
      long[] v = e.getValue();
      for (int i = 0; i < v.length; i++) {
        sb.append(String.format(Locale.ROOT, "%s%.1f,%.1f", i == 0 ? "" : " ", left + (double) pw * i / n,
            top + ph - (double) ph * v[i] / max));
      }
      sb.append("\"/>\n");
      int ly = top + 10 + 20 * s;
      sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>"
          + "<text x=\"%d\" y=\"%d\">%s</text>%n", left + pw + 15, ly, left + pw + 35, ly, color, left + pw + 40, ly + 4,
          escape(e.getKey())));
      s++;
    }
    sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>%n",
        left, top, pw, ph));
    return sb.append("</svg>\n").toString();
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }
}
