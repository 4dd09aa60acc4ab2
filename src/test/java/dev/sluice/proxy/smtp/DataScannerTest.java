package dev.sluice.proxy.smtp;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.config.ListenerConfig.BareNewline;
import dev.sluice.proxy.smtp.DataScanner.Event;
import dev.sluice.proxy.smtp.DataScanner.Outcome;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every case is fed whole, byte by byte, split at every point into two chunks and in random
 * chunkings, and must give the same outcome each time; the backend is modelled by {@link
 * #strictEnd}, an independent framer.
 */
class DataScannerTest {
  private static final BareNewline REJECT = BareNewline.REJECT;
  private static final BareNewline NORMALIZE = BareNewline.NORMALIZE;
  private static final String TERMINATOR = "\r\n.\r\n";
  // Fixed by default so a build is reproducible; -Dsluice.fuzz.seed=N explores other inputs.
  private static final long BASE_SEED = Long.getLong("sluice.fuzz.seed", 20_261_130L);

  // ---- clean bodies: both modes forward the wire form untouched -------------------------------

  @ParameterizedTest
  @EnumSource(BareNewline.class)
  void emptyMessageIsJustDotCrlf(BareNewline mode) {
    assertClean(".\r\n", mode);
  }

  @ParameterizedTest
  @EnumSource(BareNewline.class)
  void ordinaryMultiLineMessage(BareNewline mode) {
    assertClean("From: a@example.org\r\nSubject: hi\r\n\r\nline one\r\n\r\nline \u00e9 three\r\n.\r\n", mode);
  }

  @ParameterizedTest
  @EnumSource(BareNewline.class)
  void dotStuffedLinesPassInWireForm(BareNewline mode) {
    assertClean("..x\r\n..\r\n...\r\na.b\r\n. \r\n.\tx\r\n.\r\n", mode);
  }

  /** RFC 1870 leaves quoting dots out of the size: every line-start dot, the terminator's too. */
  @ParameterizedTest
  @EnumSource(BareNewline.class)
  void countsTheDotsAtTheStartOfLines(BareNewline mode) {
    DataScanner d = new DataScanner(mode);
    for (byte b : "..x\r\na.b\r\n...\r\n.\r\n".getBytes(ISO_8859_1)) {
      d.process(b);
    }
    assertThat(d.lineDots()).isEqualTo(3);
  }

  @ParameterizedTest
  @EnumSource(BareNewline.class)
  void lineOfOneDotInsideIsTheEnd(BareNewline mode) {
    Outcome o = scanEveryWay("a\r\n.\r\nb\r\n.\r\n", mode);
    assertThat(text(o.forwarded())).isEqualTo("a\r\n.\r\n");
    assertThat(o.end()).isEqualTo(6);
    assertThat(o.violation()).isEmpty();
  }

  @ParameterizedTest
  @EnumSource(BareNewline.class)
  void pipelinedCommandsAfterTheTerminatorAreNotScanned(BareNewline mode) {
    // The bare LF and NUL after the end are the next commands' business, not DATA's.
    String body = "Subject: x\r\n\r\nhi\r\n.\r\n";
    Outcome o = scanEveryWay(body + "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\nX\0\r\n", mode);
    assertThat(text(o.forwarded())).isEqualTo(body);
    assertThat(o.end()).isEqualTo(body.length());
    assertThat(o.violation()).isEmpty();
  }

  @Test
  void terminatorSplitAcrossChunks() {
    for (String[] chunks : new String[][] {{"a\r\n", ".\r\n"}, {"a\r", "\n.\r\n"}, {"a\r\n.", "\r\n"}, {"a\r\n.\r", "\nQUIT\r\n"}}) {
      Outcome o = DataScanner.scanChunks(Stream.of(chunks).map(DataScannerTest::bytes).toList(), REJECT);
      assertThat(text(o.forwarded())).as(Arrays.toString(chunks)).isEqualTo("a\r\n.\r\n");
      assertThat(o.end()).isEqualTo(6);
    }
  }

  @ParameterizedTest
  @EnumSource(BareNewline.class)
  void crAtEndOfChunkFollowedByLfIsClean(BareNewline mode) {
    Outcome o = DataScanner.scanChunks(List.of(bytes("ab\r"), bytes("\ncd\r"), bytes(""), bytes("\n.\r\n")), mode);
    assertThat(text(o.forwarded())).isEqualTo("ab\r\ncd\r\n.\r\n");
    assertThat(o.violation()).isEmpty();
  }

  @Test
  void inputEndingBeforeTheTerminatorHasNoEnd() {
    Outcome o = scanEveryWay("abc\r\n.\r", REJECT);
    assertThat(o.end()).isEqualTo(-1);
    assertThat(text(o.forwarded())).isEqualTo("abc\r\n."); // the trailing CR is still held back
  }

  // ---- violations ---------------------------------------------------------------------------

  /** The published smuggling terminators; each hides a second transaction before the real end. */
  static Stream<Arguments> smugglingVariants() {
    return Stream.of(
        Arguments.of("\n.\n", "body", "bare LF at byte 4", "body\r\n..\r\nMAIL"),
        Arguments.of("\n.\r\n", "body", "bare LF at byte 4", "body\r\n..\r\nMAIL"),
        Arguments.of("\r.\r", "body", "bare CR at byte 4", "body\r\n..\r\nMAIL"),
        Arguments.of("\r\n.\r", "body\r\n.", "bare CR at byte 7", "body\r\n..\r\nMAIL"),
        Arguments.of("\r.\r\n", "body", "bare CR at byte 4", "body\r\n..\r\nMAIL"),
        Arguments.of("\r\n.\n", "body\r\n.", "bare LF at byte 7", "body\r\n..\r\nMAIL"),
        Arguments.of("\n..\r\n", "body", "bare LF at byte 4", "body\r\n...\r\nMAIL"));
  }

  private static String smuggle(String variant) {
    return "body" + variant + "MAIL FROM:<ceo@victim.example>\r\nRCPT TO:<x@victim.example>\r\nDATA\r\nforged" + TERMINATOR;
  }

  @ParameterizedTest
  @MethodSource("smugglingVariants")
  void rejectStopsAtTheSmugglingAttemptAndFindsTheRealEnd(String variant, String forwarded, String violation, String normalized) {
    String input = smuggle(variant);
    Outcome o = scanEveryWay(input, REJECT);
    assertThat(text(o.forwarded())).isEqualTo(forwarded);
    assertThat(o.violation()).contains(violation);
    assertThat(o.rejected()).isTrue();
    assertThat(o.end()).isEqualTo(input.length());
  }

  @ParameterizedTest
  @MethodSource("smugglingVariants")
  void normalizeRestuffsTheSmuggledDotSoTheBackendSeesOneMessage(String variant, String forwarded, String violation, String normalized) {
    String input = smuggle(variant);
    Outcome o = scanEveryWay(input, NORMALIZE);
    assertThat(text(o.forwarded())).startsWith(normalized).endsWith("DATA\r\nforged" + TERMINATOR);
    assertBackendSeesExactlyOneMessage(o.forwarded());
    assertThat(o.violation()).contains(violation);
    assertThat(o.rejected()).isFalse();
    assertThat(o.end()).isEqualTo(input.length());
  }

  @Test
  void nulIsRejectedOrRemoved() {
    assertRejected("ab\0c\r\n.\r\n", "ab", "NUL at byte 2");
    assertNormalized("ab\0c\0\r\n\0\r\n.\r\n", "abc\r\n\r\n.\r\n", "NUL at byte 2");
  }

  @Test
  void nulRemovalNeverMakesADotLineOrATerminator() {
    // A dot that NUL removal would bring to a line start is stuffed.
    assertNormalized("\0.\r\n.\r\n", "..\r\n.\r\n", "NUL at byte 0");
    assertNormalized("a\r\n\0\0.x\r\n.\r\n", "a\r\n..x\r\n.\r\n", "NUL at byte 3");
    // ".<NUL>x" is the content line "<NUL>x": ".x" carries "x".
    assertNormalized(".\0x\r\n.\r\n", ".x\r\n.\r\n", "NUL at byte 1");
    assertNormalized(".\0.\r\n.\r\n", "..\r\n.\r\n", "NUL at byte 1");
    // ".<NUL><CRLF>" is not the end, but "." alone would be: it goes out as "..".
    assertNormalized(".\0\r\n.\r\n", "..\r\n.\r\n", "NUL at byte 1");
    assertNormalized(".\0\0\n.\r\n.\r\n", "..\r\n..\r\n.\r\n", "NUL at byte 1");
    assertNormalized(".\0\r.\r\n.\r\n", "..\r\n..\r\n.\r\n", "NUL at byte 1");
  }

  @Test
  void crAtEndOfChunkFollowedByNonLf() {
    List<byte[]> chunks = List.of(bytes("ab\r"), bytes("cd\r\n.\r\n"));
    Outcome rejected = DataScanner.scanChunks(chunks, REJECT);
    assertThat(text(rejected.forwarded())).isEqualTo("ab");
    assertThat(rejected.violation()).contains("bare CR at byte 2");
    assertThat(rejected.end()).isEqualTo(10);
    Outcome normalized = DataScanner.scanChunks(chunks, NORMALIZE);
    assertThat(text(normalized.forwarded())).isEqualTo("ab\r\ncd\r\n.\r\n");
  }

  @Test
  void longRunOfCrs() {
    String input = "a" + "\r".repeat(300) + "\n.\r\n";
    assertRejected(input, "a", "bare CR at byte 1");
    assertNormalized(input, "a" + "\r\n".repeat(300) + ".\r\n", "bare CR at byte 1");
    assertNormalized("\r\r\r.\r\n", "\r\n\r\n\r\n..\r\n", "bare CR at byte 0"); // input has no end
  }

  @Test
  void bareLfRightAfterTheDataCommandIsAViolation() {
    // The initial state is "just after CRLF", but an LF there is still not preceded by a CR.
    assertRejected("\n.\r\n.\r\n", "", "bare LF at byte 0");
    assertNormalized("\n.\r\n.\r\n", "\r\n..\r\n.\r\n", "bare LF at byte 0");
  }

  @Test
  void onlyTheFirstViolationIsReported() {
    assertRejected("a\nb\rc\0\r\n.\r\n", "a", "bare LF at byte 1");
    assertNormalized("a\nb\rc\0\r\n.\r\n", "a\r\nb\r\nc\r\n.\r\n", "bare LF at byte 1");
  }

  // ---- the per-byte contract, as the Netty handler sees it ------------------------------------

  @Test
  void heldBackCrIsReemittedWhenTheNextChunkStartsWithLf() {
    DataScanner s = new DataScanner(REJECT);
    assertThat(s.event()).isNull();
    assertThat(feed(s, "ab\r")).isEqualTo(-1);
    assertThat(s.endOfChunk()).isEqualTo(1); // forward "ab" only
    assertThat(s.endOfChunk()).as("an empty chunk holds back nothing new").isZero();
    assertThat(s.process((byte) '\n')).isFalse();
    assertThat(s.event()).isEqualTo(Event.SPLICE);
    assertThat(s.withheld()).isZero();
    assertThat(text(s.replacement())).isEqualTo("\r");
    assertThat(s.stopByteForwarded()).isTrue();
    assertThat(feed(s, "cd\r\n.\r")).isEqualTo(-1);
    assertThat(s.endOfChunk()).isEqualTo(1);
    assertThat(s.process((byte) '\n')).isFalse();
    assertThat(s.event()).isEqualTo(Event.END_OF_DATA);
    assertThat(text(s.replacement())).isEqualTo("\r");
    assertThat(s.ended()).isTrue();
    assertThat(s.bytesSeen()).isEqualTo(11);
    assertThatThrownBy(() -> s.process((byte) 'M')).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void bareCrInTheCurrentChunkIsWithheld() {
    DataScanner s = new DataScanner(REJECT);
    assertThat(feed(s, "ab\rc")).isEqualTo(3); // stops at 'c', the byte after the CR
    assertThat(s.event()).isEqualTo(Event.VIOLATION);
    assertThat(s.withheld()).isEqualTo(1); // forward [start, 3 - 1) = "ab"
    assertThat(s.replacement()).isEmpty();
    assertThat(s.violation()).contains("bare CR at byte 2");
    assertThat(s.discarding()).isTrue();
    assertThat(feed(s, "\n.\n\r\n.\r")).isEqualTo(-1);
    assertThat(s.endOfChunk()).as("nothing is held while discarding").isZero();
    assertThat(feed(s, "\nMAIL")).isZero();
    assertThat(s.event()).isEqualTo(Event.END_OF_DATA);
  }

  @Test
  void normalizeStuffsADotThatArrivesInTheNextChunk() {
    DataScanner s = new DataScanner(NORMALIZE);
    assertThat(feed(s, "a\n")).isEqualTo(1);
    assertThat(s.event()).isEqualTo(Event.SPLICE);
    assertThat(text(s.replacement())).isEqualTo("\r\n");
    assertThat(s.stopByteForwarded()).isFalse();
    assertThat(s.process((byte) '.')).isFalse();
    assertThat(text(s.replacement())).isEqualTo(".");
    assertThat(s.stopByteForwarded()).isTrue();
  }

  @Test
  void replacementIsACopy() {
    DataScanner s = new DataScanner(NORMALIZE);
    feed(s, "\n");
    s.replacement()[0] = 'X';
    assertThat(text(s.replacement())).isEqualTo("\r\n");
  }

  /**
   * The relay's shortcut for a line break between ordinary lines is taken exactly for CR, LF and a
   * byte above CR other than '.', and leaves the scanner as three {@code process} calls would: the
   * same bytes afterwards give the same stops and events.
   */
  @ParameterizedTest
  @EnumSource(BareNewline.class)
  void theOrdinaryLineBreakShortcutIsThreeProcessCalls(BareNewline mode) {
    byte[] alphabet = {'\r', '\n', 0, '.', 'a', (byte) 0x80, 0x0e, '\t', ' '};
    byte[] after = ".\r\nx\r\n.\r\n".getBytes(ISO_8859_1);
    for (byte x : alphabet) {
      for (byte y : alphabet) {
        for (byte z : alphabet) {
          DataScanner fast = new DataScanner(mode);
          DataScanner slow = new DataScanner(mode);
          assertThat(fast.process((byte) 'a') && slow.process((byte) 'a')).isTrue();
          boolean taken = fast.ordinaryLineBreak(x, y, z);
          assertThat(taken).as("%d %d %d", x, y, z).isEqualTo(x == '\r' && y == '\n' && (z & 0xFF) > '\r' && z != '.');
          if (!taken) {
            continue;
          }
          assertThat(slow.process(x) && slow.process(y) && slow.process(z)).isTrue();
          assertThat(fast.insideLine()).isEqualTo(slow.insideLine()).isTrue();
          for (byte b : after) {
            boolean go = slow.process(b);
            assertThat(fast.process(b)).isEqualTo(go);
            if (!go) {
              assertThat(fast.event()).isEqualTo(slow.event());
              assertThat(fast.withheld()).isEqualTo(slow.withheld());
              assertThat(fast.replacement()).isEqualTo(slow.replacement());
              if (slow.event() == Event.END_OF_DATA) {
                break;
              }
            }
          }
          assertThat(slow.event()).isEqualTo(Event.END_OF_DATA);
        }
      }
    }
  }

  // ---- randomized properties ----------------------------------------------------------------

  @Test
  void randomBodiesAreFramedLikeAStrictBackend() {
    byte[] alphabet = bytes("a.\r\n\0");
    for (int i = 0; i < 3_000; i++) {
      long seed = BASE_SEED + i;
      Random r = new Random(seed);
      byte[] body = new byte[r.nextInt(40)];
      for (int k = 0; k < body.length; k++) {
        body[k] = alphabet[r.nextInt(alphabet.length)];
      }
      byte[] input = concat(body, bytes(TERMINATOR + "QUIT\r\n"));
      String why = "seed " + seed + " (base " + BASE_SEED + "), input " + escape(input);
      long end = strictEnd(input);
      int firstViolation = firstViolation(input, end);

      Outcome rejected = DataScanner.scanAll(input, REJECT);
      assertSameWhenChunked(input, REJECT, rejected, r, why);
      assertThat(rejected.end()).as(why).isEqualTo(end);
      int clean = firstViolation >= 0 ? firstViolation : (int) end;
      assertThat(rejected.forwarded()).as(why).isEqualTo(Arrays.copyOf(input, clean));
      assertThat(rejected.rejected()).as(why).isEqualTo(firstViolation >= 0);

      Outcome normalized = DataScanner.scanAll(input, NORMALIZE);
      assertSameWhenChunked(input, NORMALIZE, normalized, r, why);
      assertThat(normalized.end()).as(why).isEqualTo(end);
      assertThat(strictEnd(normalized.forwarded())).as(why).isEqualTo(normalized.forwarded().length);
      assertThat(firstViolation(normalized.forwarded(), normalized.forwarded().length)).as(why).isEqualTo(-1);
      // Only line structure, dots and NULs may change: the text is the same.
      assertThat(text(normalized.forwarded()).replaceAll("[\r\n.\0]", ""))
          .as(why)
          .isEqualTo(new String(input, 0, (int) end, ISO_8859_1).replaceAll("[\r\n.\0]", ""));
    }
  }

  // ---- helpers ------------------------------------------------------------------------------

  private static void assertClean(String input, BareNewline mode) {
    Outcome o = scanEveryWay(input, mode);
    assertThat(text(o.forwarded())).isEqualTo(input);
    assertThat(o.end()).isEqualTo(input.length());
    assertThat(o.violation()).isEmpty();
  }

  private static void assertRejected(String input, String forwarded, String violation) {
    Outcome o = scanEveryWay(input, REJECT);
    assertThat(text(o.forwarded())).isEqualTo(forwarded);
    assertThat(o.violation()).contains(violation);
    assertThat(o.rejected()).isTrue();
    assertThat(o.end()).isEqualTo(strictEnd(bytes(input)));
  }

  private static void assertNormalized(String input, String forwarded, String violation) {
    Outcome o = scanEveryWay(input, NORMALIZE);
    assertThat(text(o.forwarded())).isEqualTo(forwarded);
    assertThat(o.violation()).contains(violation);
    assertThat(o.rejected()).isFalse();
    long end = strictEnd(bytes(input));
    assertThat(o.end()).isEqualTo(end);
    if (end >= 0) {
      assertBackendSeesExactlyOneMessage(o.forwarded());
    }
  }

  private static void assertBackendSeesExactlyOneMessage(byte[] forwarded) {
    assertThat(strictEnd(forwarded)).as("backend's end of data in %s", escape(forwarded)).isEqualTo(forwarded.length);
    assertThat(firstViolation(forwarded, forwarded.length)).as("bare CR/LF or NUL in %s", escape(forwarded)).isEqualTo(-1);
  }

  /**
   * Scans whole, byte by byte, split at every point into two and in random chunkings; all must
   * agree. Returns the outcome.
   */
  private static Outcome scanEveryWay(String text, BareNewline mode) {
    byte[] input = bytes(text);
    Outcome whole = DataScanner.scanAll(input, mode);
    String why = mode + " " + escape(input);
    assertSame(whole, DataScanner.scanChunks(split(input, allCuts(input.length)), mode), why + " byte by byte");
    for (int cut = 0; cut <= input.length; cut++) {
      assertSame(whole, DataScanner.scanChunks(split(input, new int[] {cut}), mode), why + " split at " + cut);
    }
    assertSameWhenChunked(input, mode, whole, new Random(BASE_SEED ^ input.length), why);
    return whole;
  }

  private static void assertSameWhenChunked(byte[] input, BareNewline mode, Outcome whole, Random r, String why) {
    for (int i = 0; i < 20; i++) {
      int[] cuts = r.ints(r.nextInt(6), 0, input.length + 1).sorted().toArray();
      String chunking = why + " chunked at " + Arrays.toString(cuts) + " (seed base " + BASE_SEED + ")";
      assertSame(whole, DataScanner.scanChunks(split(input, cuts), mode), chunking);
    }
  }

  private static void assertSame(Outcome expected, Outcome actual, String why) {
    assertThat(escape(actual.forwarded())).as(why).isEqualTo(escape(expected.forwarded()));
    assertThat(actual.end()).as(why).isEqualTo(expected.end());
    assertThat(actual.violation()).as(why).isEqualTo(expected.violation());
    assertThat(actual.rejected()).as(why).isEqualTo(expected.rejected());
  }

  /**
   * The backend model: offset just past the first {@code <CRLF>.<CRLF>}, where the stream starts
   * just after a CRLF; -1 if there is none.
   */
  private static long strictEnd(byte[] wire) {
    String s = "\r\n" + text(wire);
    int i = s.indexOf(TERMINATOR);
    return i < 0 ? -1 : i + TERMINATOR.length() - 2;
  }

  /** Offset of the first NUL, bare LF or bare CR before {@code end} (or anywhere if -1); -1 if none. */
  private static int firstViolation(byte[] b, long end) {
    int limit = end < 0 ? b.length : (int) end;
    for (int i = 0; i < limit; i++) {
      boolean bareLf = b[i] == '\n' && (i == 0 || b[i - 1] != '\r');
      boolean bareCr = b[i] == '\r' && i + 1 < b.length && b[i + 1] != '\n';
      if (b[i] == 0 || bareLf || bareCr) {
        return i;
      }
    }
    return -1;
  }

  private static int[] allCuts(int length) {
    int[] cuts = new int[length];
    Arrays.setAll(cuts, i -> i + 1);
    return cuts;
  }

  /** Chunks of {@code input} cut at the given sorted offsets (empty chunks included). */
  private static List<byte[]> split(byte[] input, int[] cuts) {
    List<byte[]> chunks = new ArrayList<>();
    int from = 0;
    for (int cut : cuts) {
      chunks.add(Arrays.copyOfRange(input, from, cut));
      from = cut;
    }
    chunks.add(Arrays.copyOfRange(input, from, input.length));
    return chunks;
  }

  /** Feeds a chunk as {@code forEachByte} would: index of the stop, or -1. */
  private static int feed(DataScanner s, String chunk) {
    byte[] b = bytes(chunk);
    for (int i = 0; i < b.length; i++) {
      if (!s.process(b[i])) {
        return i;
      }
    }
    return -1;
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private static byte[] bytes(String s) {
    return s.getBytes(ISO_8859_1);
  }

  private static String text(byte[] b) {
    return new String(b, ISO_8859_1);
  }

  private static String escape(byte[] b) {
    return '"' + text(b).replace("\r", "\\r").replace("\n", "\\n").replace("\0", "\\0") + '"';
  }
}
