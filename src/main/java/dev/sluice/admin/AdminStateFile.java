package dev.sluice.admin;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.balance.Backend;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The file behind {@code admin.state_file}: the admin states (drain, disable) and weights set
 * through the admin API, so that they outlive a restart of Sluice as they outlive a reload. Without
 * it, a server drained for maintenance gets mail again as soon as Sluice restarts (an upgrade, a
 * host reboot), while it is still being worked on.
 *
 * <p>The file is JSON, one entry per backend by pool and name:
 *
 * <pre>{@code
 * {"saved": "2026-12-02T11:00:00Z",
 *  "backends": [{"pool": "hub", "backend": "ex1", "admin_state": "draining"},
 *               {"pool": "hub", "backend": "ex2", "weight": 3, "config_weight": 1}]}
 * }</pre>
 *
 * {@code config_weight} is the configuration's weight when the API set {@code weight}: as on a
 * reload, the API's weight stands only while the configuration's stays the same.
 *
 * <p>A write goes to a temporary file in the same directory, is forced to disk and renamed over
 * the old one, so a crash leaves the old file or the new one, never half of one. Not thread-safe:
 * the caller serialises reads and writes.
 */
public final class AdminStateFile {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** A weight set through the API, with the configuration's weight for the backend at the time. */
  public record Weight(int weight, int configWeight) {}

  /**
   * What the file holds, keyed by {@code pool/backend}.
   *
   * @param states admin states other than enabled
   * @param weights weights set through the API
   */
  public record Contents(Map<String, Backend.AdminState> states, Map<String, Weight> weights) {
    public static final Contents EMPTY = new Contents(Map.of(), Map.of());

    public Contents {
      states = Map.copyOf(states);
      weights = Map.copyOf(weights);
    }
  }

  /** The file cannot be read as a state file; the message says where and why. */
  public static final class Unreadable extends Exception {
    private static final long serialVersionUID = 1L;

    Unreadable(String message) {
      super(message, null, false, false);
    }
  }

  private final Path file;

  public AdminStateFile(Path file) {
    this.file = file;
  }

  public Path path() {
    return file;
  }

  /**
   * Reads the file; {@link Contents#EMPTY} when there is none yet.
   *
   * @throws Unreadable when it is not a state file (the message names the file, and the line and
   *     column for broken JSON)
   * @throws IOException when it exists but cannot be read
   */
  public Contents read() throws IOException, Unreadable {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return Contents.EMPTY;
    }
    JsonNode root;
    try {
      root = JSON.readTree(bytes);
    } catch (JsonProcessingException e) {
      var at = e.getLocation();
      throw new Unreadable(file + (at == null ? "" : ":" + at.getLineNr() + ":" + at.getColumnNr())
          + ": not JSON: " + e.getOriginalMessage());
    }
    if (root == null || !root.path("backends").isArray()) {
      throw new Unreadable(file + ": not a Sluice state file (no \"backends\" list)");
    }
    Map<String, Backend.AdminState> states = new LinkedHashMap<>();
    Map<String, Weight> weights = new LinkedHashMap<>();
    int n = 0;
    for (JsonNode e : root.get("backends")) {
      n++;
      String pool = e.path("pool").asText("");
      String backend = e.path("backend").asText("");
      if (pool.isEmpty() || backend.isEmpty()) {
        throw new Unreadable(file + ": entry " + n + " has no \"pool\" and \"backend\"");
      }
      String key = pool + '/' + backend;
      if (e.hasNonNull("admin_state")) {
        states.put(key, adminState(e.get("admin_state").asText(), key));
      }
      if (e.hasNonNull("weight")) {
        JsonNode w = e.get("weight");
        JsonNode cw = e.path("config_weight");
        if (!w.canConvertToInt() || w.asInt() < 0 || !cw.canConvertToInt()) {
          throw new Unreadable(file + ": entry " + n + " (" + key + ") needs a whole \"weight\" >= 0 and its"
              + " \"config_weight\"");
        }
        weights.put(key, new Weight(w.asInt(), cw.asInt()));
      }
    }
    return new Contents(states, weights);
  }

  private Backend.AdminState adminState(String text, String key) throws Unreadable {
    for (Backend.AdminState s : Backend.AdminState.values()) {
      if (s.name().equalsIgnoreCase(text)) {
        return s;
      }
    }
    throw new Unreadable(file + ": " + key + ": admin_state '" + text + "' is not one of enabled, draining, disabled");
  }

  /**
   * Replaces the file with {@code contents} (enabled backends are left out), atomically.
   *
   * @throws IOException when it cannot be written; the old file is then unchanged
   */
  public void write(Contents contents, Instant now) throws IOException {
    Map<String, ObjectNode> entries = new TreeMap<>();
    contents.states().forEach((key, state) -> {
      if (state != Backend.AdminState.ENABLED) {
        entry(entries, key).put("admin_state", state.name().toLowerCase(Locale.ROOT));
      }
    });
    contents.weights().forEach((key, w) -> entry(entries, key).put("weight", w.weight()).put("config_weight", w.configWeight()));
    ObjectNode root = JSON.createObjectNode();
    root.put("comment", "Written by Sluice (admin.state_file): admin states and weights set through the admin API,"
        + " restored at start. Sluice rewrites this file on every change.");
    root.put("saved", now.toString());
    ArrayNode list = root.putArray("backends");
    entries.values().forEach(list::add);
    byte[] bytes = (JSON.writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8);
    Path dir = file.toAbsolutePath().getParent();
    Path tmp = dir.resolve("." + file.getFileName() + ".tmp");
    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer b = ByteBuffer.wrap(bytes);
      while (b.hasRemaining()) {
        ch.write(b);
      }
      ch.force(true); // on disk before the rename makes it the state file
    }
    try {
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  private static ObjectNode entry(Map<String, ObjectNode> entries, String key) {
    return entries.computeIfAbsent(key, k -> {
      int slash = k.indexOf('/');
      ObjectNode e = JSON.createObjectNode();
      e.put("pool", k.substring(0, slash));
      e.put("backend", k.substring(slash + 1));
      return e;
    });
  }

  /**
   * What would keep {@code sluice run} from using this file, for {@code sluice check}: a directory
   * that does not exist or cannot be written, or a file that is not a state file (which run would
   * set aside, starting without the states it holds); null when there is nothing to say.
   */
  public String problem() {
    Path dir = file.toAbsolutePath().getParent();
    if (!Files.isDirectory(dir)) {
      return "its directory " + dir + " does not exist";
    }
    if (!Files.isWritable(dir)) {
      return "its directory " + dir + " cannot be written";
    }
    try {
      read();
      return null;
    } catch (Unreadable e) {
      return "is not a state file (" + e.getMessage() + "); sluice run would move it aside and start without it";
    } catch (IOException e) {
      return "cannot be read: " + e;
    }
  }

  /**
   * Moves an unreadable file aside (to {@code NAME.unreadable}), so that the next write does not
   * destroy what an operator may want to look at.
   *
   * @return where it went
   */
  public Path setAside() throws IOException {
    Path aside = file.resolveSibling(file.getFileName() + ".unreadable");
    Files.move(file, aside, StandardCopyOption.REPLACE_EXISTING);
    return aside;
  }
}
