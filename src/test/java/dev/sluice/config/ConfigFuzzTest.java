package dev.sluice.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Robustness: randomly mutated versions of the DESIGN example either parse or fail with a {@link
 * ConfigException} whose errors all have a location — never any other exception. A failure names
 * the seed that reproduces it.
 */
class ConfigFuzzTest {
  private static final String[] FRAGMENTS = {
    ":", " ", "\n", "-", "[", "]", "{", "}", ",", "'", "\"", "#", "&a", "*a", "!!str", "\t", "0", "99999999999",
    "/", "::", "[::1]", "%", "|", ">", "?", "~", "null", "true", "5x", "---", "\u00e9", "\u0663", "\\", "@"
  };

  @Test
  void mutatedExampleNeverThrowsAnythingButConfigException() throws Exception {
    String example = ConfigLoaderTest.example();
    // Fixed by default so a build is reproducible; -Dsluice.fuzz.seed=N explores other inputs.
    long baseSeed = Long.getLong("sluice.fuzz.seed", 20_261_130L);
    for (int i = 0; i < 500; i++) {
      long seed = baseSeed + i;
      String text = mutate(example, new Random(seed));
      try {
        ConfigLoader.parse(text, "fuzz.yaml");
      } catch (ConfigException e) {
        assertThat(e.errors()).as("seed %d", seed).isNotEmpty()
            .allSatisfy(err -> assertThat(err.location()).as("seed %d: %s", seed, err).isNotNull());
      } catch (RuntimeException | StackOverflowError e) {
        fail("seed " + seed + " (base " + baseSeed + "): unexpected " + e + "\n--- input ---\n" + text, e);
      }
    }
  }

  /** 1 to 5 random edits: delete a span, insert a fragment, duplicate or swap lines. */
  private static String mutate(String text, Random r) {
    StringBuilder sb = new StringBuilder(text);
    int edits = 1 + r.nextInt(5);
    for (int e = 0; e < edits && sb.length() > 0; e++) {
      int at = r.nextInt(sb.length());
      switch (r.nextInt(4)) {
        case 0 -> sb.delete(at, Math.min(sb.length(), at + 1 + r.nextInt(8)));
        case 1 -> sb.insert(at, FRAGMENTS[r.nextInt(FRAGMENTS.length)]);
        case 2 -> {
          int start = sb.lastIndexOf("\n", at) + 1;
          int end = sb.indexOf("\n", at);
          String line = sb.substring(start, end < 0 ? sb.length() : end + 1);
          sb.insert(start, line);
        }
        default -> sb.setCharAt(at, (char) (' ' + r.nextInt(95)));
      }
    }
    return sb.toString();
  }
}
