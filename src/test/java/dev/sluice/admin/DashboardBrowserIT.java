package dev.sluice.admin;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.balance.Backend;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.SluiceFixture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The dashboard in a real headless Chromium (Debian {@code chromium} + {@code chromium-driver},
 * installed by {@code ./test}): every backend is listed, the chart grows as traffic flows, and the
 * drain/enable buttons act on the server.
 */
@Tag("integration")
class DashboardBrowserIT extends AdminTestBase {
  static final Duration TIMEOUT = Duration.ofSeconds(20);
  static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  static final Path DRIVER = Path.of("/usr/bin/chromedriver");
  WebDriver browser;

  @BeforeEach
  void startBrowser() {
    Assumptions.assumeTrue(Files.isExecutable(CHROMIUM) && Files.isExecutable(DRIVER),
        "skipped: needs Debian chromium and chromium-driver (" + CHROMIUM + ", " + DRIVER + "); ./test installs them"
            + " when run as root, or: apt-get install -y chromium chromium-driver");
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM.toFile());
    options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1400,1000");
    // The Debian driver, not one Selenium Manager would download.
    ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(DRIVER.toFile()).build();
    browser = new ChromeDriver(service, options);
  }

  @AfterEach
  void stopBrowser() {
    Awaitility.reset();
    if (browser != null) {
      browser.quit();
    }
  }

  @Test
  void showsEveryBackendAChartThatGrowsWithTrafficAndWorkingDrainButtons() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b"), c = backend("c");
    SluiceFixture f = sluice(yaml("", SMTP_LISTENER, a, b, c));
    browser.get(admin(f).base() + "/?refresh=300");
    // The page redraws its tables when the state changes; an element may go stale between reads.
    Awaitility.setDefaultTimeout(TIMEOUT);
    Awaitility.ignoreExceptionByDefault(StaleElementReferenceException.class);

    await().atMost(TIMEOUT).untilAsserted(() ->
        assertThat(browser.findElements(By.cssSelector("tr.backend")))
            .extracting(e -> e.getAttribute("data-backend")).containsExactly("a", "b", "c"));
    assertThat(browser.findElements(By.cssSelector("#chart canvas"))).isNotEmpty();
    assertThat(browser.findElements(By.cssSelector("tr.backend .badge.UP"))).hasSize(3);
    assertThat(chartTotal()).isZero();

    send(f, 6);
    await().atMost(TIMEOUT).until(() -> chartTotal() == 6);
    send(f, 9);
    await().atMost(TIMEOUT).until(() -> chartTotal() == 15);
    // The chart's legend names every backend.
    assertThat(browser.findElement(By.cssSelector("#chart")).getText()).contains("p/a", "p/b", "p/c");
    assertThat(browser.findElement(By.cssSelector("tr.listener .balance-index")).getText()).isEqualTo("1.00");

    await().untilAsserted(() -> row("b").findElement(By.cssSelector("button.drain")).click());
    Backend backendB = f.server().pools().get("p").backends().get(1);
    await().atMost(TIMEOUT).until(() -> backendB.adminState() == Backend.AdminState.DRAINING);
    await().atMost(TIMEOUT).until(() -> row("b").findElements(By.cssSelector("button.enable")).size() == 1);
    await().untilAsserted(() -> row("b").findElement(By.cssSelector("button.enable")).click());
    await().atMost(TIMEOUT).until(() -> backendB.adminState() == Backend.AdminState.ENABLED);

    // A weight set through the API shows beside the configuration's.
    assertThat(f.server().setWeight("p", "c", 3)).isTrue();
    await().atMost(TIMEOUT).untilAsserted(() -> assertThat(row("c").getText()).contains("3 (config 1)"));
    assertThat(row("a").getText()).doesNotContain("(config");

    await().untilAsserted(() -> row("a").findElement(By.cssSelector(".badge")).click());
    await().untilAsserted(() ->
        assertThat(browser.findElement(By.id("probe")).getText()).contains("MAIL FROM:<probe@internet.example>"));
  }

  private WebElement row(String backend) {
    return browser.findElement(By.cssSelector("tr.backend[data-backend='" + backend + "']"));
  }

  private long chartTotal() {
    return Long.parseLong(browser.findElement(By.id("chart")).getAttribute("data-total"));
  }

  private static void send(SluiceFixture f, int messages) throws Exception {
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(95), TIMEOUT)) {
      c.command("EHLO browser-test");
      for (int i = 0; i < messages; i++) {
        assertThat(c.send("x@internet.example", "y@corp.example", "m" + i).code()).isEqualTo(250);
      }
    }
  }
}
