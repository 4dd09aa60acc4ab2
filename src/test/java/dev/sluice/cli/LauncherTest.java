package dev.sluice.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code ./sluice} launcher's choice of JVM and flags, against stand-in JDKs: a {@code bin/java}
 * script and, for some, a {@code release} file. Nothing here starts a real JVM.
 */
class LauncherTest {
  static final Path LAUNCHER = Path.of("sluice").toAbsolutePath();

  @TempDir Path dir;

  record Run(int exit, String out, String err) {}

  /**
   * A stand-in JDK: {@code bin/java} prints {@code versionLine} for -version and its arguments
   * otherwise; a release file when {@code release != null}.
   */
  Path jdk(String name, String versionLine, String release) throws IOException {
    Path home = dir.resolve(name);
    Files.createDirectories(home.resolve("bin"));
    Path java = home.resolve("bin/java");
    // -version prints the version line, as a JVM does; anything else prints its arguments.
    Files.writeString(java, "#!/bin/sh\nif [ \"$1\" = -version ]; then echo '" + versionLine + "' >&2; exit 0; fi\necho \"$@\"\n");
    Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
    if (release != null) {
      Files.writeString(home.resolve("release"), "IMPLEMENTOR=\"Test\"\nJAVA_VERSION=\"" + release + "\"\n");
    }
    return home;
  }

  Run launch(Path javaHome, Map<String, String> env, String... args) throws Exception {
    return launch(LAUNCHER, javaHome, env, args);
  }

  Run launch(Path launcher, Path javaHome, Map<String, String> env, String... args) throws Exception {
    ProcessBuilder pb = new ProcessBuilder(launcher.toString());
    pb.command().addAll(List.of(args));
    pb.environment().put("JAVA_HOME", javaHome.toString());
    pb.environment().putAll(env);
    Process p = pb.start();
    assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
    return new Run(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim(),
        new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim());
  }

  @Test
  void javaHomeIsTheJvmItRuns() throws Exception {
    Path home = jdk("jdk17", "openjdk version \"17.0.15\" 2025-04-15", "17.0.15");
    Run r = launch(home, Map.of("SLUICE_PRINT_JAVA", "1"));
    assertThat(r.exit()).isZero();
    assertThat(r.out()).isEqualTo(home.resolve("bin/java").toString());
  }

  @Test
  void java17GetsTheBaseFlagsOnly() throws Exception {
    Run r = launch(jdk("jdk17", "unused", "17.0.15"), Map.of("SLUICE_PRINT_JVM_FLAGS", "1"));
    assertThat(r.exit()).isZero();
    assertThat(r.out()).contains("-XX:+UseG1GC").doesNotContain("--enable-native-access").doesNotContain("--sun-misc-unsafe");
  }

  @Test
  void java25AllowsNettyItsUnsafeAccessAndNativeLibrary() throws Exception {
    Run r = launch(jdk("jdk25", "unused", "25.0.3"), Map.of("SLUICE_PRINT_JVM_FLAGS", "1"));
    assertThat(r.exit()).isZero();
    assertThat(r.out()).contains("-XX:+UseG1GC", "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow");
  }

  @Test
  void transparentHugePagesAreAskedForOnlyWhenTheKernelGivesThemOnRequest() throws Exception {
    Path home = jdk("jdk17", "unused", "17.0.15");
    Path setting = dir.resolve("enabled");
    // The kernel's file marks the active choice in brackets.
    Files.writeString(setting, "always [madvise] never\n");
    assertThat(launch(home, Map.of("SLUICE_PRINT_JVM_FLAGS", "1", "SLUICE_THP_FILE", setting.toString())).out())
        .contains("-XX:+UseTransparentHugePages");
    for (String other : List.of("[always] madvise never\n", "always madvise [never]\n")) {
      Files.writeString(setting, other);
      assertThat(launch(home, Map.of("SLUICE_PRINT_JVM_FLAGS", "1", "SLUICE_THP_FILE", setting.toString())).out())
          .as(other).contains("-XX:+UseG1GC").doesNotContain("HugePages");
    }
    Run noFile = launch(home, Map.of("SLUICE_PRINT_JVM_FLAGS", "1", "SLUICE_THP_FILE", dir.resolve("absent").toString()));
    assertThat(noFile.exit()).isZero();
    assertThat(noFile.out()).doesNotContain("HugePages");
    assertThat(noFile.err()).isEmpty();
  }

  @Test
  void withoutAReleaseFileTheVersionComesFromJavaDashVersion() throws Exception {
    Run r = launch(jdk("jdk24", "openjdk version \"24.0.1\" 2025-04-15", null), Map.of("SLUICE_PRINT_JVM_FLAGS", "1"));
    assertThat(r.exit()).isZero();
    assertThat(r.out()).contains("--sun-misc-unsafe-memory-access=allow");
  }

  @Test
  void aJavaOlderThan17IsRefusedWithItsVersion() throws Exception {
    Path home = jdk("jdk8", "java version \"1.8.0_402\"", null);
    Run r = launch(home, Map.of("SLUICE_PRINT_JVM_FLAGS", "1"));
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).isEqualTo("sluice: Java 17 or newer is required; " + home.resolve("bin/java") + " is 8");
    Run r11 = launch(jdk("jdk11", "unused", "11.0.22"), Map.of());
    assertThat(r11.exit()).isEqualTo(1);
    assertThat(r11.err()).contains("Java 17 or newer is required").endsWith(" is 11");
  }

  @Test
  void installedBesideItsJarItRunsThatJarWithTheFlagsAndBuildsNothing() throws Exception {
    // The layout contrib/sluice.service expects: /opt/sluice/sluice and /opt/sluice/sluice.jar.
    Path opt = Files.createDirectories(dir.resolve("opt/sluice"));
    Path launcher = opt.resolve("sluice");
    Files.copy(LAUNCHER, launcher);
    Files.writeString(opt.resolve("sluice.jar"), "not built here");
    Run r = launch(launcher, jdk("jdk25", "unused", "25.0.3"), Map.of("SLUICE_JAVA_OPTS", "-Xmx512m"),
        "run", "-c", "/etc/sluice/sluice.yaml");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).startsWith("-XX:+UseG1GC ").contains("--sun-misc-unsafe-memory-access=allow")
        .endsWith("-Xmx512m -jar " + opt.resolve("sluice.jar") + " run -c /etc/sluice/sluice.yaml");
    assertThat(r.err()).doesNotContain("building");

    // Through a symlink on the PATH, it still finds the jar beside the real script.
    Path bin = Files.createDirectories(dir.resolve("usr/local/bin"));
    Path link = Files.createSymbolicLink(bin.resolve("sluice"), launcher);
    Run viaLink = launch(link, jdk("jdk25b", "unused", "25.0.3"), Map.of(), "version");
    assertThat(viaLink.exit()).as(viaLink.err()).isZero();
    assertThat(viaLink.out()).endsWith("-jar " + opt.resolve("sluice.jar") + " version");
  }
}
