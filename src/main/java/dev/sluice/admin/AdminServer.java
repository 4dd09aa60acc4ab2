package dev.sluice.admin;

import dev.sluice.config.AdminConfig;
import dev.sluice.proxy.NetErrors;
import dev.sluice.runtime.RegisterAfterBatch;
import dev.sluice.runtime.SluiceServer;
import dev.sluice.runtime.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP admin endpoint (DESIGN §8) on {@code admin.listen}: the dashboard at {@code /} (static
 * files from the jar), {@code /metrics} in Prometheus text, and the JSON API under {@code /api}.
 * When a token is configured, {@code /metrics} and {@code /api} need {@code Authorization: Bearer
 * TOKEN} (compared in constant time); the dashboard's static files are public, the page asks for
 * the token when the API answers 401.
 *
 * <p>Threading: Netty's event loop only parses requests and writes responses. Every request is
 * handled on one admin thread, so operations (drain, weight, reload) are serialized and a slow
 * reload never holds an event loop.
 */
public final class AdminServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(AdminServer.class);
  private static final int MAX_BODY = 64 * 1024;
  private static final String WEBJAR_UPLOT = "META-INF/resources/webjars/uplot/1.6.30/dist/";

  private final AdminApi api;
  private final byte[] token;
  private final ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "sluice-admin");
    t.setDaemon(true);
    return t;
  });
  private Channel serverChannel;

  /** @param token the bearer token, or null for none */
  public AdminServer(SluiceServer server, String token) {
    this.api = new AdminApi(server);
    this.token = token == null ? null : token.getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Reads {@code admin.token_file} (surrounding blanks trimmed) and enforces DESIGN §8: a token is
   * mandatory when the endpoint listens on anything but loopback.
   *
   * @return the token, or null when none is configured (loopback only)
   * @throws SluiceServer.StartupException with a message naming the config location
   */
  public static String readToken(AdminConfig admin) throws SluiceServer.StartupException {
    requireTokenOffLoopback(admin);
    if (admin.listen() == null || admin.tokenFile() == null) {
      return null;
    }
    try {
      String t = Files.readString(admin.tokenFile(), StandardCharsets.UTF_8).strip();
      if (t.isEmpty()) {
        throw new SluiceServer.StartupException(admin.location() + ": admin.token_file " + admin.tokenFile() + " is empty");
      }
      return t;
    } catch (IOException e) {
      throw new SluiceServer.StartupException(admin.location() + ": admin.token_file " + admin.tokenFile()
          + " cannot be read: " + e);
    }
  }

  /**
   * DESIGN §8's rule on the config alone, without reading the token file: an endpoint off loopback
   * must have {@code token_file}. {@code sluice check} applies it too.
   *
   * @throws SluiceServer.StartupException with a message naming the config location
   */
  public static void requireTokenOffLoopback(AdminConfig admin) throws SluiceServer.StartupException {
    if (admin.listen() != null && admin.tokenFile() == null && !isLoopback(admin.listen().host())) {
      throw new SluiceServer.StartupException(admin.location() + ": admin.listen " + admin.listen()
          + " is not a loopback address: set admin.token_file to a file holding a bearer token, or listen on"
          + " 127.0.0.1");
    }
  }

  private static boolean isLoopback(String host) {
    try {
      InetAddress[] all = InetAddress.getAllByName(host);
      for (InetAddress a : all) {
        if (!a.isLoopbackAddress()) {
          return false;
        }
      }
      return all.length > 0;
    } catch (IOException e) {
      return false;
    }
  }

  /** Binds {@code at}; accepted connections are served on {@code group}. */
  public void bind(EventLoopGroup group, Transport transport, InetSocketAddress at) throws InterruptedException {
    serverChannel = new ServerBootstrap()
        .group(group)
        .channel(transport.serverChannel())
        .handler(RegisterAfterBatch.INSTANCE)
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(MAX_BODY), new Handler());
          }
        })
        .bind(at).sync().channel();
  }

  public InetSocketAddress boundAddress() {
    return (InetSocketAddress) serverChannel.localAddress();
  }

  @Override
  public void close() {
    if (serverChannel != null) {
      serverChannel.close().syncUninterruptibly();
    }
    worker.shutdownNow();
  }

  /** A request copied off the Netty buffer, so it can cross to the admin thread. */
  record Request(HttpMethod method, String path, String authorization, String body, boolean keepAlive) {}

  /** What to send back. */
  record Response(HttpResponseStatus status, String contentType, byte[] body) {
    static Response json(HttpResponseStatus status, String json) {
      return new Response(status, "application/json; charset=utf-8", json.getBytes(StandardCharsets.UTF_8));
    }
  }

  private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
      String path;
      try {
        path = new QueryStringDecoder(req.uri()).path();
      } catch (IllegalArgumentException badEscape) {
        // A malformed URI (e.g. "/%zz") is the client's error: 400, not a fault in Sluice.
        write(ctx, new Request(req.method(), req.uri(), null, "", false),
            Response.json(HttpResponseStatus.BAD_REQUEST, AdminApi.error("malformed URI: " + badEscape.getMessage())));
        return;
      }
      Request r = new Request(req.method(), path,
          req.headers().get(HttpHeaderNames.AUTHORIZATION), req.content().toString(StandardCharsets.UTF_8),
          HttpUtil.isKeepAlive(req));
      worker.execute(() -> {
        Response resp;
        try {
          resp = handle(r);
        } catch (RuntimeException e) {
          log.warn("admin: {} {} failed", r.method(), r.path(), e);
          resp = Response.json(HttpResponseStatus.INTERNAL_SERVER_ERROR, AdminApi.error(e.toString()));
        }
        write(ctx, r, resp);
      });
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      NetErrors.logClosing(log, "admin connection " + ctx.channel().remoteAddress(), cause);
      ctx.close();
    }
  }

  private static void write(ChannelHandlerContext ctx, Request r, Response resp) {
    ByteBuf body = Unpooled.wrappedBuffer(resp.body());
    FullHttpResponse out = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, resp.status(), body);
    out.headers().set(HttpHeaderNames.CONTENT_TYPE, resp.contentType());
    out.headers().set(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
    out.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
    if (r.keepAlive()) {
      out.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
      ctx.writeAndFlush(out);
    } else {
      ctx.writeAndFlush(out).addListener(ChannelFutureListener.CLOSE);
    }
  }

  /** Routes one request (admin thread). */
  Response handle(Request r) {
    String path = r.path();
    if (path.equals("/") || path.equals("/index.html")) {
      return resource("dashboard/index.html");
    }
    if (path.startsWith("/dashboard/")) {
      return resource("dashboard/" + path.substring("/dashboard/".length()));
    }
    if (path.startsWith("/uplot/")) {
      return resource(WEBJAR_UPLOT + path.substring("/uplot/".length()));
    }
    if (!path.equals("/metrics") && !path.startsWith("/api/")) {
      return Response.json(HttpResponseStatus.NOT_FOUND, AdminApi.error("no such page: " + path));
    }
    if (!authorized(r.authorization())) {
      return Response.json(HttpResponseStatus.UNAUTHORIZED, AdminApi.error("missing or wrong bearer token"));
    }
    if (path.equals("/metrics")) {
      return r.method().equals(HttpMethod.GET) ? api.metrics() : notAllowed(r);
    }
    return api.handle(r.method(), path, r.body());
  }

  private static Response notAllowed(Request r) {
    return Response.json(HttpResponseStatus.METHOD_NOT_ALLOWED, AdminApi.error(r.method() + " not allowed on " + r.path()));
  }

  /** Bearer token check in constant time, so response timing does not leak how much of it matched. */
  private boolean authorized(String header) {
    if (token == null) {
      return true;
    }
    if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
      return false;
    }
    return MessageDigest.isEqual(token, header.substring(7).strip().getBytes(StandardCharsets.UTF_8));
  }

  /** A static file from the classpath; names with {@code ..} are refused. */
  private static Response resource(String name) {
    if (name.contains("..")) {
      return Response.json(HttpResponseStatus.NOT_FOUND, AdminApi.error("not found"));
    }
    try (InputStream in = AdminServer.class.getClassLoader().getResourceAsStream(name)) {
      if (in == null) {
        return Response.json(HttpResponseStatus.NOT_FOUND, AdminApi.error("not found: " + name));
      }
      return new Response(HttpResponseStatus.OK, contentType(name), in.readAllBytes());
    } catch (IOException e) {
      return Response.json(HttpResponseStatus.INTERNAL_SERVER_ERROR, AdminApi.error(e.toString()));
    }
  }

  private static String contentType(String name) {
    if (name.endsWith(".html")) {
      return "text/html; charset=utf-8";
    }
    if (name.endsWith(".js")) {
      return "text/javascript; charset=utf-8";
    }
    if (name.endsWith(".css")) {
      return "text/css; charset=utf-8";
    }
    return "application/octet-stream";
  }
}
