package dev.sluice.testing;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A strict parser of the Prometheus text exposition format (0.0.4), written for the tests so they
 * check the metrics page as a scraper would rather than grep it: every line must be a comment, a
 * HELP/TYPE line or a well-formed sample of a declared family; label values are unescaped; values
 * parse as doubles.
 */
public final class PrometheusText {
  /** One sample line. */
  public record Sample(String name, Map<String, String> labels, double value) {
    public String label(String key) {
      return labels.get(key);
    }
  }

  private static final Set<String> TYPES = Set.of("counter", "gauge", "histogram", "summary", "untyped");
  private final Map<String, String> types = new HashMap<>();
  private final List<Sample> samples = new ArrayList<>();

  private PrometheusText() {}

  /** Parses a whole page; throws IllegalArgumentException naming the line on any violation. */
  public static PrometheusText parse(String page) {
    PrometheusText p = new PrometheusText();
    String[] lines = page.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i];
      if (line.isEmpty()) {
        continue;
      }
      try {
        p.line(line);
      } catch (RuntimeException e) {
        throw new IllegalArgumentException("line " + (i + 1) + ": " + e.getMessage() + ": " + line, e);
      }
    }
    return p;
  }

  private void line(String line) {
    if (line.startsWith("# TYPE ")) {
      String[] f = line.substring(7).split(" ");
      if (f.length != 2 || !TYPES.contains(f[1]) || types.put(f[0], f[1]) != null) {
        throw new IllegalArgumentException("bad or repeated TYPE");
      }
      return;
    }
    if (line.startsWith("#")) {
      return; // HELP and comments
    }
    int i = 0;
    while (i < line.length() && (Character.isLetterOrDigit(line.charAt(i)) || line.charAt(i) == '_' || line.charAt(i) == ':')) {
      i++;
    }
    String name = line.substring(0, i);
    if (name.isEmpty() || Character.isDigit(name.charAt(0))) {
      throw new IllegalArgumentException("bad metric name");
    }
    Map<String, String> labels = new LinkedHashMap<>();
    if (i < line.length() && line.charAt(i) == '{') {
      i++;
      while (line.charAt(i) != '}') {
        int eq = line.indexOf('=', i);
        String key = line.substring(i, eq);
        if (!key.matches("[a-zA-Z_][a-zA-Z0-9_]*")) {
          throw new IllegalArgumentException("bad label name " + key);
        }
        if (line.charAt(eq + 1) != '"') {
          throw new IllegalArgumentException("label value not quoted");
        }
        StringBuilder v = new StringBuilder();
        int j = eq + 2;
        for (; line.charAt(j) != '"'; j++) {
          char c = line.charAt(j);
          if (c == '\\') {
            char n = line.charAt(++j);
            v.append(n == 'n' ? '\n' : n);
          } else {
            v.append(c);
          }
        }
        labels.put(key, v.toString());
        i = j + 1;
        if (line.charAt(i) == ',') {
          i++;
        }
      }
      i++;
    }
    if (line.charAt(i) != ' ') {
      throw new IllegalArgumentException("no space before value");
    }
    String[] rest = line.substring(i + 1).split(" ");
    double value = switch (rest[0]) {
      case "+Inf" -> Double.POSITIVE_INFINITY;
      case "-Inf" -> Double.NEGATIVE_INFINITY;
      case "NaN" -> Double.NaN;
      default -> Double.parseDouble(rest[0]);
    };
    if (rest.length > 2) {
      throw new IllegalArgumentException("trailing fields");
    }
    if (family(name) == null) {
      throw new IllegalArgumentException("sample of undeclared family " + name);
    }
    samples.add(new Sample(name, labels, value));
  }

  /** The declared family a sample name belongs to (histograms add _bucket, _sum, _count). */
  private String family(String name) {
    if (types.containsKey(name)) {
      return name;
    }
    for (String suffix : List.of("_bucket", "_sum", "_count", "_total", "_created")) {
      if (name.endsWith(suffix) && types.containsKey(name.substring(0, name.length() - suffix.length()))) {
        return name.substring(0, name.length() - suffix.length());
      }
    }
    return null;
  }

  public String type(String family) {
    return types.get(family);
  }

  public List<Sample> samples(String name) {
    return samples.stream().filter(s -> s.name().equals(name)).toList();
  }

  /** Sum of the samples named {@code name} whose labels include all of {@code match} (k, v, k, v…). */
  public double sum(String name, String... match) {
    return samples(name).stream().filter(s -> {
      for (int k = 0; k < match.length; k += 2) {
        if (!match[k + 1].equals(s.labels().get(match[k]))) {
          return false;
        }
      }
      return true;
    }).mapToDouble(Sample::value).sum();
  }
}
