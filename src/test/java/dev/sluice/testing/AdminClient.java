package dev.sluice.testing;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** The admin endpoint over real HTTP (java.net.http), optionally with a bearer token. */
public final class AdminClient {
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final String base;
  private final String token;

  public AdminClient(InetSocketAddress at, String token) {
    this.base = "http://" + at.getAddress().getHostAddress() + ":" + at.getPort();
    this.token = token;
  }

  public AdminClient(InetSocketAddress at) {
    this(at, null);
  }

  public String base() {
    return base;
  }

  public HttpResponse<String> get(String path) {
    return send(request(path).GET());
  }

  public HttpResponse<String> post(String path) {
    return send(request(path).POST(HttpRequest.BodyPublishers.noBody()));
  }

  public HttpResponse<String> put(String path, String body) {
    return send(request(path).PUT(HttpRequest.BodyPublishers.ofString(body)));
  }

  private HttpRequest.Builder request(String path) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(20));
    return token == null ? b : b.header("Authorization", "Bearer " + token);
  }

  private HttpResponse<String> send(HttpRequest.Builder b) {
    try {
      return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
