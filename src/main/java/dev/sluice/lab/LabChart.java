package dev.sluice.lab;

import java.awt.Color;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;

/**
 * A grouped bar chart of messages per server for every run: one group per run, one bar per
 * server. The report's {@code TrafficChart} draws traffic over time, which a lab run does not have,
 * so this is its own small chart: PNG by JFreeChart, SVG written directly (JFreeChart has no SVG
 * backend). Immutable.
 */
public final class LabChart {
  private static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"};

  private final List<String> groups = new ArrayList<>();
  private final List<RunResult> runs = new ArrayList<>();
  private final List<String> servers;

  /** A chart of every run of {@code results}; a group is named {@code scenario/run}. */
  public LabChart(List<ScenarioResult> results) {
    Set<String> names = new LinkedHashSet<>();
    for (ScenarioResult s : results) {
      for (RunResult r : s.runs()) {
        groups.add(results.size() == 1 ? r.name() : s.scenario().id() + "/" + r.name());
        runs.add(r);
        names.addAll(r.perServer().keySet());
      }
    }
    servers = List.copyOf(names);
  }

  /** Writes a {@code .png} or {@code .svg} file. */
  public void write(Path file) throws IOException {
    String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
    if (name.endsWith(".png")) {
      ChartUtils.saveChartAsPNG(file.toFile(), jfreeChart(), Math.max(800, 160 * groups.size()), 650);
    } else if (name.endsWith(".svg")) {
      Files.writeString(file, svg(), StandardCharsets.UTF_8);
    } else {
      throw new IllegalArgumentException("chart file must end in .png or .svg: " + file);
    }
  }

  private long count(int run, String server) {
    return runs.get(run).perServer().getOrDefault(server, 0L);
  }

  JFreeChart jfreeChart() {
    DefaultCategoryDataset data = new DefaultCategoryDataset();
    for (int i = 0; i < groups.size(); i++) {
      for (String s : servers) {
        data.addValue(count(i, s), s, groups.get(i));
      }
    }
    JFreeChart chart = ChartFactory.createBarChart("Messages per server, per run", "run", "messages", data,
        PlotOrientation.VERTICAL, true, false, false);
    CategoryPlot plot = chart.getCategoryPlot();
    plot.setBackgroundPaint(Color.WHITE);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    // Run names are long ("backpressure/a-banner-only-health"): slanted, they fit without "…".
    plot.getDomainAxis().setCategoryLabelPositions(CategoryLabelPositions.UP_45);
    plot.getDomainAxis().setMaximumCategoryLabelWidthRatio(3f);
    for (int i = 0; i < servers.size(); i++) {
      plot.getRenderer().setSeriesPaint(i, Color.decode(COLORS[i % COLORS.length]));
    }
    return chart;
  }

  /** A standalone SVG: one {@code <rect class="bar">} per run and server, labelled, with a legend. */
  String svg() {
    int groupWidth = 40 + 36 * servers.size();
    int left = 60, top = 40, plotHeight = 300, bottom = 110;
    int width = left + groupWidth * groups.size() + 140;
    int height = top + plotHeight + bottom;
    long max = 1;
    for (int i = 0; i < groups.size(); i++) {
      for (String s : servers) {
        max = Math.max(max, count(i, s));
      }
    }
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        + "font-family=\"sans-serif\" font-size=\"12\">%n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n"
        + "<text x=\"%d\" y=\"24\" font-size=\"16\">Messages per server, per run</text>%n", width, height, width, height, left));
    int baseline = top + plotHeight;
    sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>%n", left, baseline,
        left + groupWidth * groups.size(), baseline));
    for (int i = 0; i < groups.size(); i++) {
      int x0 = left + groupWidth * i + 20;
      for (int k = 0; k < servers.size(); k++) {
        long v = count(i, servers.get(k));
        double h = (double) plotHeight * v / max;
        int x = x0 + 36 * k;
        sb.append(String.format(Locale.ROOT, "<rect class=\"bar\" data-run=\"%s\" data-server=\"%s\" x=\"%d\" y=\"%.1f\" "
                + "width=\"30\" height=\"%.1f\" fill=\"%s\"/><text x=\"%d\" y=\"%.1f\" text-anchor=\"middle\">%d</text>%n",
            escape(groups.get(i)), escape(servers.get(k)), x, baseline - h, h, COLORS[k % COLORS.length], x + 15,
            baseline - h - 4, v));
      }
      int cx = x0 + 18 * servers.size();
      sb.append(String.format(Locale.ROOT, "<text transform=\"translate(%d,%d) rotate(20)\">%s</text>%n", cx - 10,
          baseline + 16, escape(groups.get(i))));
    }
    int lx = left + groupWidth * groups.size() + 20;
    for (int k = 0; k < servers.size(); k++) {
      int ly = top + 10 + 20 * k;
      sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\"/>"
          + "<text x=\"%d\" y=\"%d\">%s</text>%n", lx, ly - 11, COLORS[k % COLORS.length], lx + 20, ly, escape(servers.get(k))));
    }
    return sb.append("</svg>\n").toString();
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }
}
