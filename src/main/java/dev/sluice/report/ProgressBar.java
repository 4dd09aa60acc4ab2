package dev.sluice.report;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * A one-line progress bar on stderr for large inputs, redrawn at most every 200 ms. Silent unless
 * enabled (the command enables it only when stderr is a terminal and the input is large).
 * Thread-safe: loading threads report concurrently.
 */
public final class ProgressBar {
  private static final long REDRAW_NANOS = 200_000_000L;
  private final PrintWriter err;
  private final long total;
  private final boolean enabled;
  private long lastDraw;
  private boolean drawn;

  public ProgressBar(PrintWriter err, long totalBytes, boolean enabled) {
    this.err = err;
    this.total = Math.max(1, totalBytes);
    this.enabled = enabled;
  }

  public synchronized void update(long bytes) {
    long now = System.nanoTime();
    if (!enabled || (drawn && now - lastDraw < REDRAW_NANOS)) {
      return;
    }
    lastDraw = now;
    drawn = true;
    int pct = (int) Math.min(100, 100 * bytes / total);
    int filled = pct * 30 / 100;
    err.printf(Locale.ROOT, "\rloading [%s%s] %3d%%  %,d / %,d MB", "#".repeat(filled), " ".repeat(30 - filled), pct,
        bytes >> 20, total >> 20);
    err.flush();
  }

  public synchronized void done() {
    if (enabled && drawn) {
      err.print("\r" + " ".repeat(70) + "\r");
      err.flush();
    }
  }
}
