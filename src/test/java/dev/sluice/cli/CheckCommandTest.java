package dev.sluice.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.ssl.util.SelfSignedCertificate;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class CheckCommandTest {
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    CommandLine cmd = new CommandLine(new CheckCommand());
    cmd.setOut(new PrintWriter(out));
    cmd.setErr(new PrintWriter(err));
    return cmd.execute(args);
  }

  @Test
  void validConfigPrintsSummaryAndExitsZero(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("sluice.yaml");
    try (InputStream in = getClass().getResourceAsStream("/dev/sluice/config/example.yaml")) {
      Files.copy(in, file);
    }
    // The example names TLS files this directory does not have.
    assertThat(run("-c", file.toString(), "--no-files")).isZero();
    assertThat(out.toString()).isEqualTo(file + ": OK (2 listeners, 1 pool, 3 backends, 2 health profiles)"
        + System.lineSeparator());
    assertThat(err.toString()).isEmpty();
  }

  @Test
  void invalidConfigPrintsEveryErrorAndExitsTwo(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("bad.yaml");
    Files.writeString(file, """
        pools:
          hub: { algoritm: round_robin, backends: [127.0.0.1:10025] }
        listeners:
          in: { listen: 127.0.0.1:2525, pool: hbu }
        """);
    assertThat(run("--config", file.toString())).isEqualTo(2);
    assertThat(out.toString()).isEmpty();
    assertThat(err.toString())
        .contains(file + ":2:10: unknown key 'algoritm' in pool 'hub'")
        .contains("hint: did you mean 'algorithm'?")
        .contains(file + ":4:39: listener 'in' refers to unknown pool 'hbu'")
        .endsWith(file + ": 2 errors" + System.lineSeparator());
  }

  @Test
  void missingFileExitsTwoWithoutStackTrace() {
    assertThat(run("-c", "/nonexistent/sluice.yaml")).isEqualTo(2);
    assertThat(err.toString()).startsWith("/nonexistent/sluice.yaml: cannot read the configuration: no such file")
        .doesNotContain("Exception");
  }

  @Test
  void configOptionIsRequired() {
    assertThat(run()).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(err.toString()).contains("--config");
  }

  @Test
  void refusesWhatRunWouldRefuseBeforeBinding(@TempDir Path dir) throws Exception {
    // An admin endpoint off loopback without a token loads (sluice audit reports it as SL007), but
    // sluice run refuses to start with it, so sluice check must not say OK.
    Path file = dir.resolve("admin.yaml");
    Files.writeString(file, """
        admin: { listen: "0.0.0.0:8025" }
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { mx: { listen: 127.0.0.1:2525, pool: hub } }
        """);
    assertThat(run("-c", file.toString())).isEqualTo(2);
    assertThat(out.toString()).isEmpty();
    assertThat(err.toString()).startsWith(file + ":1:").contains("is not a loopback address").contains("token_file")
        .endsWith(file + ": 1 error" + System.lineSeparator());

    Files.writeString(dir.resolve("admin.token"), "s3cret\n");
    Files.writeString(file, Files.readString(file).replace("0.0.0.0:8025\" }", "0.0.0.0:8025\", token_file: admin.token }"));
    out.getBuffer().setLength(0);
    err.getBuffer().setLength(0);
    assertThat(run("-c", file.toString())).as(err.toString()).isZero();
  }

  @Test
  void aStateFileThatRunCouldNotUseIsAnError(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("state.yaml");
    Files.writeString(file, """
        admin: { listen: 127.0.0.1:8025, state_file: state/sluice.json }
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners: { mx: { listen: 127.0.0.1:2525, pool: hub } }
        """);
    assertThat(run("-c", file.toString())).isEqualTo(2);
    assertThat(err.toString()).startsWith(file + ":1:").contains("admin.state_file " + dir.resolve("state/sluice.json"))
        .contains("its directory " + dir.resolve("state") + " does not exist");
    assertThat(run("-c", file.toString(), "--no-files")).isZero();

    Files.createDirectory(dir.resolve("state"));
    err.getBuffer().setLength(0);
    assertThat(run("-c", file.toString())).as(err.toString()).isZero();
    Files.writeString(dir.resolve("state/sluice.json"), "{ not json");
    assertThat(run("-c", file.toString())).isEqualTo(2);
    assertThat(err.toString()).contains("is not a state file").contains("sluice run would move it aside");
  }

  /** A config whose one listener uses {@code cert} and {@code key}; the tls line is line 3. */
  private static Path tlsConfig(Path dir, String cert, String key) throws Exception {
    Path file = dir.resolve("tls.yaml");
    Files.writeString(file, """
        pools: { hub: { backends: [127.0.0.1:10025] } }
        listeners:
          mx: { listen: 127.0.0.1:2525, pool: hub, tls: { cert: %s, key: %s } }
        """.formatted(cert, key));
    return file;
  }

  /** The column where {@code text} starts on line 3 of {@code file}. */
  private static int columnOf(Path file, String text) throws Exception {
    return Files.readAllLines(file).get(2).indexOf(text) + 1;
  }

  @Test
  void readsTheTlsFilesAsRunWouldAndSaysWhichOneIsWrong(@TempDir Path dir) throws Exception {
    SelfSignedCertificate mine = new SelfSignedCertificate("mx.example");
    SelfSignedCertificate other = new SelfSignedCertificate("other.example");
    Files.copy(mine.certificate().toPath(), dir.resolve("cert.pem"));
    Files.copy(mine.privateKey().toPath(), dir.resolve("key.pem"));
    Files.copy(other.privateKey().toPath(), dir.resolve("other-key.pem"));
    Files.writeString(dir.resolve("rsa-key.pem"), "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n");
    mine.delete();
    other.delete();

    assertThat(run("-c", tlsConfig(dir, "cert.pem", "key.pem").toString())).as(err.toString()).isZero();

    Path file = tlsConfig(dir, "cert.pem", "other-key.pem");
    assertThat(run("-c", file.toString())).isEqualTo(2);
    assertThat(err.toString()).startsWith(file + ":3:" + columnOf(file, "other-key.pem") + ": listener 'mx': tls.key " + dir.resolve("other-key.pem")
        + " is not the private key of the certificate in " + dir.resolve("cert.pem")).contains("hint: ");

    err.getBuffer().setLength(0);
    file = tlsConfig(dir, "missing.pem", "key.pem");
    assertThat(run("-c", file.toString())).isEqualTo(2);
    assertThat(err.toString()).startsWith(file + ":3:" + columnOf(file, "missing.pem") + ": listener 'mx': tls.cert " + dir.resolve("missing.pem") + " not found");

    err.getBuffer().setLength(0);
    file = tlsConfig(dir, "cert.pem", "rsa-key.pem");
    assertThat(run("-c", file.toString())).isEqualTo(2);
    assertThat(err.toString()).contains("PKCS#1").contains("hint: convert it to PKCS#8: openssl pkcs8 -topk8 -nocrypt");

    err.getBuffer().setLength(0);
    out.getBuffer().setLength(0);
    assertThat(run("-c", file.toString(), "--no-files")).isZero();
    assertThat(out.toString()).contains(": OK (");
  }
}
