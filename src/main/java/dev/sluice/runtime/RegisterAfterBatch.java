package dev.sluice.runtime;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;

/**
 * The handler of a listening channel that passes each accepted connection on to be registered
 * (and its session started) by a task, after the event loop has finished the batch of ready I/O
 * events it is processing.
 *
 * <p>Why: Netty's epoll loop looks channels up by file descriptor number, and a batch can still
 * hold an event for a descriptor that a session closed earlier in the same batch. An accepted
 * socket may get that number, and the stale event (a hang-up, say) would reach the new session.
 * When the listening socket's loop also serves its connections, registration would otherwise
 * happen right inside the batch. A task on the loop's own thread costs no wake-up.
 *
 * <p>Stateless and shared by every listening channel.
 */
@ChannelHandler.Sharable
public final class RegisterAfterBatch extends ChannelInboundHandlerAdapter {
  public static final RegisterAfterBatch INSTANCE = new RegisterAfterBatch();

  private RegisterAfterBatch() {}

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object child) {
    ctx.executor().execute(() -> ctx.fireChannelRead(child));
  }
}
