package dev.sluice.proxy.smtp;

import dev.sluice.config.ListenerConfig.BareNewline;
import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Strict framer for one SMTP DATA phase: finds the end of the message body and applies the
 * listener's {@code bare_newline} policy, one byte at a time, so that a Netty handler can forward
 * clean ranges of its input as zero-copy slices.
 *
 * <h2>Why strict framing</h2>
 *
 * RFC 5321 §4.1.4 and §4.5.2 end the mail data with the line {@code "."}, i.e. the sequence
 * {@code <CRLF>.<CRLF>}, and §2.3.8 says that CR and LF may only appear together as the line
 * terminator: a bare CR or bare LF is not a line break. Receivers have historically been lenient
 * and disagree about it; Postfix 3.7, for example, also ends DATA at {@code <LF>.<CR><LF>} and
 * {@code <LF>.<LF>}. SMTP smuggling (CVE-2023-51764 and relatives) exploits such a disagreement:
 * the attacker hides a second {@code MAIL FROM/RCPT TO/DATA} transaction after a non-standard
 * terminator in the body; the first hop sees one message, the next hop sees two. A proxy in front
 * of such a server must therefore make sure the backend frames exactly the message Sluice framed.
 *
 * <p>This scanner recognises only {@code <CR><LF>.<CR><LF>} as the end of data, where the first
 * {@code <CR><LF>} may be the one that ended the {@code DATA} command (the initial state is "just
 * after CRLF", so an empty message is {@code .<CR><LF>}). A bare LF (LF not preceded by CR), a bare
 * CR (CR not followed by LF) and NUL are violations:
 *
 * <ul>
 *   <li>{@link BareNewline#REJECT}: the first violation stops forwarding before the offending byte;
 *       the scanner then keeps looking for the client's real end of data so that the caller can
 *       answer {@code 550 5.6.0} at the right place and go on with the pipelined commands.
 *   <li>{@link BareNewline#NORMALIZE}: every bare LF and bare CR becomes CRLF and every NUL is
 *       removed. Because a byte following a new line break now starts a line, a {@code '.'} there
 *       is dot-stuffed again (RFC 5321 §4.5.2), so that e.g. {@code a<LF>.<LF>b} reaches the
 *       backend as {@code a<CRLF>..<CRLF>b}, a one-dot content line, never as a terminator. The
 *       same holds for a line that starts with {@code '.'} and is then broken by a bare CR/LF
 *       ({@code <CRLF>.<LF>} becomes {@code <CRLF>..<CRLF>}), and for NULs whose removal would
 *       bring a {@code '.'} to the start of a line ({@code <CRLF><NUL>.} becomes {@code
 *       <CRLF>..}) or leave a lone {@code '.'} on a line ({@code <CRLF>.<NUL><CRLF>} becomes {@code
 *       <CRLF>..<CRLF>}: the one case where the content differs from "input without NULs", since a
 *       lone dot line cannot be sent). The forwarded bytes therefore contain no bare CR, bare LF or
 *       NUL, and their first {@code <CRLF>.<CRLF>} is exactly where Sluice ended the message.
 * </ul>
 *
 * The scanner forwards the wire form: dot-stuffed lines ({@code ..x}) pass unchanged.
 *
 * <h2>Contract (mirrors {@code io.netty.util.ByteProcessor})</h2>
 *
 * {@link #process(byte)} returns {@code true} to continue and {@code false} to stop <em>at this
 * byte</em> (the "stop byte"); the stop byte has been consumed by the scanner, so scanning resumes
 * at the byte after it. The caller keeps {@code start}, the first byte of the clean range not yet
 * forwarded, and drives the scanner like this:
 *
 * <pre>{@code
 * int stop = buf.forEachByte(scanFrom, end - scanFrom, scanner::process);
 * if (stop < 0) {                                   // chunk exhausted, DATA goes on
 *   forward(start, end - scanner.endOfChunk());     // holds back a trailing unresolved CR
 * } else {
 *   forward(start, stop - scanner.withheld());      // 1. the clean range before the stop
 *   emit(scanner.replacement());                    // 2. bytes that replace or re-emit input
 *   start = scanner.stopByteForwarded() ? stop : stop + 1;   // 3. stop byte opens the next range
 *   scanFrom = stop + 1;
 *   switch (scanner.event()) {
 *     case END_OF_DATA -> forward(start, stop + 1); // the final LF; DATA ends after it
 *     case VIOLATION -> forwardNothingMore();       // keep scanning until END_OF_DATA
 *     case SPLICE -> { }                            // keep scanning
 *   }
 * }
 * }</pre>
 *
 * ({@code forward} of an empty range is a no-op; when the replacement is empty and nothing is
 * withheld, the ranges of steps 1 and 3 are adjacent and may be forwarded as one slice.) {@link
 * #scanAll} implements exactly this over {@code byte[]} chunks and is the reference usage.
 *
 * <p><b>Held-back CR.</b> Whether a CR is legal depends on the next byte, which may be in the next
 * chunk. The caller therefore never forwards a CR before it is resolved:
 *
 * <ul>
 *   <li>At the end of every chunk the caller calls {@link #endOfChunk()}, which returns 1 when the
 *       last byte of the chunk is an unresolved CR (else 0); the caller forwards the chunk's clean
 *       range minus that many trailing bytes and may then release the chunk. The scanner remembers
 *       that the CR was held back and re-emits it through {@link #replacement()} once resolved: a
 *       held CR followed by LF makes the scanner stop at that LF with {@link Event#SPLICE} (or
 *       {@link Event#END_OF_DATA}) and replacement {@code "\r"}, stop byte forwarded.
 *   <li>A CR inside the current chunk is part of the clean range. If it turns out to be bare, the
 *       scanner stops at the byte after it and {@link #withheld()} is 1, so the caller's range ends
 *       before the CR. A held-back CR was never in a range, so then {@code withheld()} is 0.
 * </ul>
 *
 * In both cases the bare CR is never forwarded. A chunk may be empty; the caller may call {@code
 * endOfChunk()} again without effect.
 *
 * <p><b>Positions.</b> Offsets are 0-based from the first byte of the DATA stream (the byte after
 * the CRLF of the {@code DATA} command). A bare LF and a NUL are reported at their own offset and
 * the stop byte is that byte; a bare CR is reported at the CR's offset, but the stop byte is the
 * byte after it (the first one that proves the CR bare).
 *
 * <p>In reject mode, after {@link Event#VIOLATION} the caller forwards nothing more (the backend
 * has received an unterminated prefix and must be aborted, never completed) and keeps calling
 * {@code process} until {@link Event#END_OF_DATA}; no other event occurs in between.
 *
 * <p>One scanner per DATA phase: construct a new one for each message. Not thread-safe; meant to
 * be confined to the channel's event loop. Pure Java, no allocation on the clean path.
 */
public final class DataScanner {

  /** What happened at the stop byte; see the class contract for what the caller does. */
  public enum Event {
    /**
     * The stop byte is the final LF of {@code <CRLF>.<CRLF>}; it and everything before belongs to
     * the DATA stream, everything after it is the client's next pipelined command.
     */
    END_OF_DATA,
    /** Reject mode: the first bare CR, bare LF or NUL. Forward nothing more. */
    VIOLATION,
    /**
     * Emit {@link #replacement()} between the clean range and the rest: a normalization (normalize
     * mode) or the release of a held-back CR (both modes).
     */
    SPLICE
  }

  private static final byte CR = '\r';
  private static final byte LF = '\n';
  private static final byte DOT = '.';
  private static final byte NUL = 0;

  private static final byte[] NOTHING = {};
  private static final byte[] CR_ONLY = {CR};
  private static final byte[] DOT_ONLY = {DOT};
  private static final byte[] CRLF = {CR, LF};
  private static final byte[] CRLF_DOT = {CR, LF, DOT};
  private static final byte[] DOT_CRLF = {DOT, CR, LF};
  private static final byte[] DOT_CRLF_DOT = {DOT, CR, LF, DOT};

  // States. "Line start" is about the input: after a real CRLF a '.' may begin the terminator.
  /** Inside a line; the only state of the hot path. */
  private static final int MID = 0;
  /** After a real CRLF, or at the very beginning. */
  private static final int LINE_START = 1;
  /** After a CR whose fate is not known yet. */
  private static final int CR_PENDING = 2;
  /** After {@code <line start>.}. */
  private static final int DOT_LINE = 3;
  /** After {@code <line start>.<CR>}: an LF ends the message. */
  private static final int DOT_CR = 4;
  /**
   * Normalize mode: the output is at a line start (a line break was synthesized or NULs were
   * dropped after one) but the input is not, so a '.' here must be stuffed.
   */
  private static final int BREAK = 5;
  /**
   * Normalize mode: the output is {@code <CRLF>.} but the input had NULs after the dot, so the
   * line is not a terminator and any line break must be preceded by a stuffing dot.
   */
  private static final int DOT_NUL = 6;
  /** Normalize mode: {@link #DOT_NUL} followed by a CR whose fate is not known yet. */
  private static final int DOT_NUL_CR = 7;
  /** After END_OF_DATA. */
  private static final int DONE = 8;

  private final boolean normalize;
  private int state = LINE_START;
  private long seen;
  /** Dots at the start of a line of the forwarded body; see {@link #lineDots()}. */
  private long lineDots;
  /** The pending CR was the last byte of an earlier chunk and was not forwarded. */
  private boolean crHeld;
  private boolean discarding;
  private String violation;

  // Describes the last stop.
  private Event event;
  private int withheld;
  private byte[] replacement = NOTHING;
  private boolean stopByteForwarded;

  /** A scanner for one DATA phase, positioned just after the CRLF of the {@code DATA} command. */
  public DataScanner(BareNewline mode) {
    this.normalize = Objects.requireNonNull(mode, "mode") == BareNewline.NORMALIZE;
  }

  /**
   * Consumes one byte of the DATA stream.
   *
   * @return true to continue; false to stop at this byte, after which {@link #event()}, {@link
   *     #withheld()}, {@link #replacement()} and {@link #stopByteForwarded()} describe what to do
   * @throws IllegalStateException after {@link Event#END_OF_DATA}
   */
  public boolean process(byte b) {
    seen++;
    // Hot path: an ordinary byte inside a line. Every special byte (NUL, LF, CR) is <= CR, and
    // a '.' only matters at a line start.
    if (state == MID && (b & 0xFF) > CR) {
      return true;
    }
    return step(b);
  }

  /**
   * Whether the scanner is inside a line, where only NUL, CR and LF matter (every byte above CR
   * would pass {@link #process} unchanged), so a caller may skip ordinary bytes in bulk and report
   * them with {@link #skipped}.
   */
  boolean insideLine() {
    return state == MID;
  }

  /**
   * Whether {@link #ordinaryLineBreak} can consume line breaks now (inside a line, no CR held).
   * While it can, consuming one changes nothing but the count, so a caller may pass over several
   * and report them with {@link #skipped}.
   */
  boolean ordinaryLineBreakPossible() {
    return state == MID && !crHeld;
  }

  /**
   * Dots seen at the start of a line so far, the terminator's included: the receiver removes one
   * from each such line (RFC 5321 §4.5.2), and RFC 1870 leaves these doubled quoting dots out of a
   * message's size.
   */
  long lineDots() {
    return lineDots;
  }

  /** Counts {@code n} ordinary bytes inside a line that the caller passed over without {@link #process}. */
  void skipped(int n) {
    seen += n;
  }

  /**
   * Inside a line, consumes {@code cr lf next} when they are a CRLF followed by an ordinary byte
   * (above CR, and not a '.'): the break between two ordinary lines, the commonest stop in a body.
   * Exactly what three {@link #process} calls would do, in one step; returns false, consuming
   * nothing, in any other case (the caller then goes byte by byte).
   */
  boolean ordinaryLineBreak(byte cr, byte lf, byte next) {
    if (state != MID || crHeld || cr != CR || lf != LF || (next & 0xFF) <= CR || next == DOT) {
      return false;
    }
    seen += 3;
    return true;
  }

  private boolean step(byte b) {
    switch (state) {
      case MID:
        return inLine(b, MID, MID);
      case LINE_START:
        if (b == DOT) {
          lineDots++;
          state = DOT_LINE;
          return true;
        }
        return inLine(b, BREAK, MID);
      case BREAK:
        if (b == DOT) {
          lineDots++;
          state = MID;
          return splice(DOT_ONLY, 0, true);
        }
        return inLine(b, BREAK, MID);
      case DOT_LINE:
        return dotLine(b, DOT_CR, DOT_NUL);
      case DOT_NUL:
        return dotLine(b, DOT_NUL_CR, DOT_NUL);
      case CR_PENDING:
        return b == LF ? lineBreak(LINE_START) : bareCr(b, false);
      case DOT_CR:
        return b == LF ? endOfData() : bareCr(b, true);
      case DOT_NUL_CR:
        return b == LF ? dotNulLineBreak() : bareCr(b, true);
      default:
        throw new IllegalStateException("DATA already ended at byte " + (seen - 1));
    }
  }

  /**
   * A byte after which the line is ordinary text.
   *
   * @param afterNul state when a NUL is dropped here in normalize mode
   * @param otherwise state after any other non-special byte
   */
  private boolean inLine(byte b, int afterNul, int otherwise) {
    if (b == CR) {
      state = CR_PENDING;
      return true;
    }
    if (b == LF) {
      return bareLf(false);
    }
    if (b == NUL) {
      return nul(afterNul);
    }
    state = otherwise;
    return true;
  }

  /** A byte after {@code <line start>.} (possibly followed by dropped NULs). */
  private boolean dotLine(byte b, int afterCr, int afterNul) {
    if (b == CR) {
      state = afterCr;
      return true;
    }
    if (b == LF) {
      return bareLf(true);
    }
    if (b == NUL) {
      return nul(afterNul);
    }
    state = MID;
    return true;
  }

  /** A CR followed by LF; the CR is re-emitted if it was held back. */
  private boolean lineBreak(int next) {
    state = next;
    if (!crHeld) {
      return true;
    }
    crHeld = false;
    return splice(CR_ONLY, 0, true);
  }

  private boolean endOfData() {
    byte[] heldCr = crHeld ? CR_ONLY : NOTHING;
    crHeld = false;
    state = DONE;
    return stop(Event.END_OF_DATA, 0, heldCr, true);
  }

  /**
   * Normalize mode: {@code <CRLF>.<NUL>…<CRLF>} is not a terminator in the input but would be one
   * without the NULs, so the line goes out as {@code ..}.
   */
  private boolean dotNulLineBreak() {
    int inRange = pendingCrInRange();
    state = LINE_START;
    return splice(DOT_CRLF, inRange, false);
  }

  /** @param dotLine the line so far is a lone '.', which must be stuffed before the break */
  private boolean bareLf(boolean dotLine) {
    if (!normalize) {
      return reject("bare LF", seen - 1, 0, MID);
    }
    record("bare LF", seen - 1);
    state = BREAK;
    return splice(dotLine ? DOT_CRLF : CRLF, 0, false);
  }

  private boolean nul(int next) {
    if (!normalize) {
      return reject("NUL", seen - 1, 0, MID);
    }
    record("NUL", seen - 1);
    state = next;
    return splice(NOTHING, 0, false);
  }

  /**
   * The pending CR is followed by {@code b}, which is not LF. The stop byte is {@code b}: the CR
   * is withheld if it is in the caller's current range, and {@code b} is handled as the first byte
   * of a new line.
   *
   * @param dotLine the line before the CR is a lone '.' (possibly with dropped NULs)
   */
  private boolean bareCr(byte b, boolean dotLine) {
    int inRange = pendingCrInRange();
    if (!normalize) {
      return reject("bare CR", seen - 2, inRange, b == CR ? CR_PENDING : MID);
    }
    record("bare CR", seen - 2);
    if (b == DOT) {
      state = MID;
      return splice(dotLine ? DOT_CRLF_DOT : CRLF_DOT, inRange, true);
    }
    byte[] lineBreak = dotLine ? DOT_CRLF : CRLF;
    if (b == NUL) {
      state = BREAK;
      return splice(lineBreak, inRange, false);
    }
    state = b == CR ? CR_PENDING : MID;
    return splice(lineBreak, inRange, true);
  }

  /** Resolves the pending CR: 1 if it is in the caller's current range, 0 if it was held back. */
  private int pendingCrInRange() {
    int inRange = crHeld ? 0 : 1;
    crHeld = false;
    return inRange;
  }

  /**
   * Reject mode: stops at the first violation and enters the discarding state; later ones only
   * steer the search for the real terminator.
   */
  private boolean reject(String what, long offset, int inRange, int next) {
    state = next;
    if (discarding) {
      return true;
    }
    discarding = true;
    record(what, offset);
    return stop(Event.VIOLATION, inRange, NOTHING, false);
  }

  private void record(String what, long offset) {
    if (violation == null) {
      violation = what + " at byte " + offset;
    }
  }

  private boolean splice(byte[] bytes, int inRange, boolean forwardStopByte) {
    return stop(Event.SPLICE, inRange, bytes, forwardStopByte);
  }

  private boolean stop(Event e, int inRange, byte[] bytes, boolean forwardStopByte) {
    event = e;
    withheld = inRange;
    replacement = bytes;
    stopByteForwarded = forwardStopByte;
    return false;
  }

  /**
   * Tells the scanner that the caller's current chunk has ended (call it when {@code forEachByte}
   * returned -1, i.e. the chunk was exhausted without a stop).
   *
   * @return the number of trailing bytes of the chunk the caller must not forward: 1 when the last
   *     byte is a CR not yet known to be followed by LF (the scanner re-emits it later through
   *     {@link #replacement()}), else 0; always 0 once discarding
   */
  public int endOfChunk() {
    boolean pendingCr = state == CR_PENDING || state == DOT_CR || state == DOT_NUL_CR;
    if (!pendingCr || crHeld || discarding) {
      return 0;
    }
    crHeld = true;
    return 1;
  }

  /** What happened at the last stop; null before the first stop. */
  public Event event() {
    return event;
  }

  /**
   * At the last stop: how many bytes immediately before the stop byte the caller must not forward
   * (1 when a bare CR in the current range is being dropped or replaced, else 0).
   */
  public int withheld() {
    return withheld;
  }

  /**
   * At the last stop: bytes to emit after the clean range and before the stop byte (if that is
   * forwarded), e.g. {@code "\r\n"} for a bare LF, {@code "."} to stuff a dot, {@code "\r"} for a
   * held-back CR. A fresh copy; empty when there is nothing to emit.
   */
  public byte[] replacement() {
    return replacement.length == 0 ? replacement : replacement.clone();
  }

  /**
   * At the last stop: whether the stop byte itself is forwarded (it opens the next clean range) or
   * dropped (a normalized bare LF, a removed NUL, and in reject mode the offending byte).
   */
  public boolean stopByteForwarded() {
    return stopByteForwarded;
  }

  /** Number of bytes passed to {@link #process(byte)} so far. */
  public long bytesSeen() {
    return seen;
  }

  /** True after a reject-mode violation: nothing more may be forwarded for this message. */
  public boolean discarding() {
    return discarding;
  }

  /** True once the end of data has been found. */
  public boolean ended() {
    return state == DONE;
  }

  /**
   * The first bare CR, bare LF or NUL, e.g. {@code "bare LF at byte 1234"} (rejected or, in
   * normalize mode, repaired); empty when the body was clean.
   */
  public Optional<String> violation() {
    return Optional.ofNullable(violation);
  }

  /**
   * The result of scanning a whole DATA stream.
   *
   * @param forwarded what the backend receives
   * @param end offset just past the terminator's final LF (the first byte of the next pipelined
   *     command), or -1 when the input ended before the end of data
   * @param violation as {@link DataScanner#violation()}
   * @param rejected true when reject mode stopped forwarding
   */
  public record Outcome(byte[] forwarded, long end, Optional<String> violation, boolean rejected) {}

  /** Scans {@code input} as one chunk; see {@link #scanChunks}. */
  public static Outcome scanAll(byte[] input, BareNewline mode) {
    return scanChunks(List.of(input), mode);
  }

  /**
   * Scans a DATA stream delivered in chunks and returns what the backend would receive. This is
   * the slow path for callers without a Netty buffer and the reference usage of the per-byte API:
   * it forwards clean ranges, holds back trailing CRs and emits replacements exactly as a Netty
   * handler does with {@code ByteBuf.forEachByte} and slices. Bytes after the end of data are not
   * scanned.
   */
  public static Outcome scanChunks(List<byte[]> chunks, BareNewline mode) {
    Relay relay = new Relay(new DataScanner(mode));
    long offset = 0;
    for (byte[] chunk : chunks) {
      int end = relay.feed(chunk);
      if (end >= 0) {
        return relay.outcome(offset + end);
      }
      offset += chunk.length;
    }
    return relay.outcome(-1);
  }

  /**
   * Drives a scanner over chunks the way the Netty handler does; {@code backend} stands for the
   * slices it writes.
   */
  private static final class Relay {
    private final DataScanner scanner;
    private final ByteArrayOutputStream backend = new ByteArrayOutputStream();
    private boolean forwarding = true;

    Relay(DataScanner scanner) {
      this.scanner = scanner;
    }

    /** @return the index in {@code chunk} just past the end of data, or -1 if DATA goes on */
    int feed(byte[] chunk) {
      int start = 0; // first byte of the clean range not yet forwarded
      int scanFrom = 0;
      while (true) {
        int stop = forEachByte(chunk, scanFrom, chunk.length, scanner);
        if (stop < 0) {
          forward(chunk, start, chunk.length - scanner.endOfChunk());
          return -1;
        }
        forward(chunk, start, stop - scanner.withheld());
        forward(scanner.replacement());
        start = scanner.stopByteForwarded() ? stop : stop + 1;
        scanFrom = stop + 1;
        switch (scanner.event()) {
          case END_OF_DATA -> {
            forward(chunk, start, stop + 1);
            return stop + 1;
          }
          case VIOLATION -> forwarding = false;
          case SPLICE -> {}
        }
      }
    }

    /** As {@code ByteBuf.forEachByte(from, to - from, processor)}. */
    private static int forEachByte(byte[] chunk, int from, int to, DataScanner scanner) {
      for (int i = from; i < to; i++) {
        if (!scanner.process(chunk[i])) {
          return i;
        }
      }
      return -1;
    }

    private void forward(byte[] chunk, int from, int to) {
      if (forwarding && to > from) {
        backend.write(chunk, from, to - from);
      }
    }

    private void forward(byte[] bytes) {
      if (forwarding) {
        backend.write(bytes, 0, bytes.length);
      }
    }

    Outcome outcome(long end) {
      return new Outcome(backend.toByteArray(), end, scanner.violation(), scanner.discarding());
    }
  }
}
