// A POS integration of the Accrue agent's till API in Java (proto/README.md): binary framing over
// the agent's unix socket, a timeout on every call, a sale retried safely when its answer is
// lost, and refusals shown by their stable message_id.
//
// Build (Debian 12: openjdk-17-jdk-headless, libprotobuf-java, protobuf-compiler):
//   protoc -I proto --java_out=gen proto/accrue/loyalty/v1/loyalty.proto proto/accrue/pos/v1/pos.proto
//   javac -cp /usr/share/java/protobuf.jar -d classes $(find gen -name '*.java') PosClient.java
// Run:
//   java -cp /usr/share/java/protobuf.jar:classes PosClient /run/accrue/agent.sock 6001234567890123
import accrue.loyalty.v1.Loyalty;
import accrue.pos.v1.Pos;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.UUID;

public final class PosClient implements AutoCloseable {
  private static final int MAX_FRAME = 1 << 20; // the agent's limit, both ways

  private final SocketChannel channel;
  private final Selector selector;
  private final long timeoutMs;

  public PosClient(Path socket, long timeoutMs) throws IOException {
    this.channel = SocketChannel.open(StandardProtocolFamily.UNIX);
    this.channel.connect(UnixDomainSocketAddress.of(socket));
    this.channel.configureBlocking(false);
    this.selector = Selector.open();
    this.channel.register(selector, SelectionKey.OP_READ);
    this.timeoutMs = timeoutMs;
  }

  @Override
  public void close() throws IOException {
    selector.close();
    channel.close();
  }

  /** One request, one answer: a 4-byte big-endian length, then the protobuf bytes. */
  public Pos.Response call(Pos.Request request) throws IOException {
    byte[] body = request.toByteArray();
    ByteBuffer out = ByteBuffer.allocate(4 + body.length).putInt(body.length).put(body).flip();
    while (out.hasRemaining()) channel.write(out);
    long deadline = System.currentTimeMillis() + timeoutMs;
    int length = readExactly(4, deadline).getInt();
    if (length < 0 || length > MAX_FRAME) throw new IOException("answer of " + length + " bytes");
    return Pos.Response.parseFrom(readExactly(length, deadline));
  }

  private ByteBuffer readExactly(int n, long deadline) throws IOException {
    ByteBuffer in = ByteBuffer.allocate(n);
    while (in.hasRemaining()) {
      long left = deadline - System.currentTimeMillis();
      if (left <= 0 || selector.select(left) == 0) throw new IOException("no answer in time");
      selector.selectedKeys().clear();
      if (channel.read(in) < 0) throw new IOException("the agent closed the connection");
    }
    return in.flip();
  }

  static Pos.Identifier card(String number, Pos.EntryMode mode) {
    return Pos.Identifier.newBuilder()
        .setKind(Pos.IdentifierKind.IDENTIFIER_KIND_CARD)
        .setValue(number)
        .setEntryMode(mode)
        .build();
  }

  static Pos.Request.Builder request(String till) {
    return Pos.Request.newBuilder().setRequestId(UUID.randomUUID().toString()).setTillId(till);
  }

  /** What the cashier sees: the refusal in the till's words where its id is known. */
  static String refusal(Pos.Error e) {
    switch (e.getMessageId()) {
      case "redeem.off_step":
        return "Points go in steps of " + e.getParamsOrDefault("step", "?") + ".";
      case "points.insufficient":
        return "Only " + e.getParamsOrDefault("available", "?") + " points available.";
      default:
        return e.getMessage(); // English from the agent, fine to show as is
    }
  }

  /**
   * Sends a sale and returns its answer. A sale is identified by (till, pos_tx_id): when its
   * answer is lost, the same request is sent again on a new connection (a new request_id is
   * fine) and answered with the first answer, marked replayed. When the agent stays out of
   * reach, get_transaction_status tells later whether the sale was booked.
   */
  static Pos.Response accrueSafely(Path socket, Pos.Request sale) throws IOException {
    IOException last = null;
    for (int attempt = 0; attempt < 3; ++attempt) {
      try (PosClient c = new PosClient(socket, 2000)) {
        return c.call(sale.toBuilder().setRequestId(UUID.randomUUID().toString()).build());
      } catch (IOException e) {
        last = e;
      }
    }
    throw last;
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: PosClient SOCKET CARD [TILL]");
      System.exit(64);
    }
    Path socket = Path.of(args[0]);
    String till = args.length > 2 ? args[2] : "java-till";
    boolean ok = true;
    try (PosClient c = new PosClient(socket, 2000)) {
      Pos.Request validate = request(till)
          .setValidate(Pos.ValidateRequest.newBuilder()
              .setIdentifier(card(args[1], Pos.EntryMode.ENTRY_MODE_SCANNED)))
          .build();
      Pos.Response v = c.call(validate);
      if (v.hasError()) {
        System.out.println("validate refused: " + refusal(v.getError()));
        System.exit(1);
      }
      System.out.printf("member %s, %s, %d points%n", v.getValidate().getStatus(),
          v.getValidate().getTierName(), v.getValidate().getAvailablePoints());
    }

    // A sale: 2 x 25.00 EUR. The answer is "lost" once: the sale is sent again, keyed by hand
    // this time, and the agent answers the first answer again.
    String posTxId = "java-" + UUID.randomUUID();
    Loyalty.Basket basket = Loyalty.Basket.newBuilder()
        .setCurrency("EUR")
        .setOccurredAtMs(System.currentTimeMillis())
        .addLines(Loyalty.BasketLine.newBuilder().setLineNo(1).setSku("TEE")
            .addCategories("tops").setQuantityMilli(2000).setAmountMinor(5000))
        .build();
    Pos.Request sale = request(till)
        .setAccrue(Pos.AccrueRequest.newBuilder().setPosTxId(posTxId)
            .setIdentifier(card(args[1], Pos.EntryMode.ENTRY_MODE_SCANNED)).setBasket(basket))
        .build();
    Pos.Response first = accrueSafely(socket, sale);
    Pos.Request keyed = sale.toBuilder()
        .setAccrue(sale.getAccrue().toBuilder()
            .setIdentifier(card(args[1].replaceAll("(\\d{4})", "$1 ").trim(),
                Pos.EntryMode.ENTRY_MODE_KEYED)))
        .build();
    Pos.Response again = accrueSafely(socket, keyed);
    if (first.hasError() || again.hasError()) {
      Pos.Error e = first.hasError() ? first.getError() : again.getError();
      System.out.println("sale refused: " + refusal(e));
      System.exit(1);
    }
    System.out.printf("sale %s: %d points, receipt %s%n", posTxId,
        first.getAccrue().getPointsEarned(), first.getAccrue().getEventId());
    boolean same = again.getAccrue().getReplayed()
        && again.getAccrue().getEventId().equals(first.getAccrue().getEventId());
    System.out.println("resent: " + (same ? "replayed, same receipt" : "NOT THE SAME ANSWER"));
    ok &= same;

    try (PosClient c = new PosClient(socket, 2000)) {
      Pos.Response status = c.call(request(till)
          .setGetTransactionStatus(Pos.GetTransactionStatusRequest.newBuilder().setPosTxId(posTxId))
          .build());
      boolean booked = status.getTransactionStatus().getFound();
      System.out.println("status: " + (booked ? "booked" : "not booked"));
      ok &= booked;

      // A refusal: 150 points where the programme redeems in steps of 100.
      Pos.Response refused = c.call(request(till)
          .setRedeem(Pos.RedeemRequest.newBuilder().setPosTxId("java-r-" + UUID.randomUUID())
              .setIdentifier(card(args[1], Pos.EntryMode.ENTRY_MODE_SCANNED)).setPoints(150))
          .build());
      System.out.printf("redeem 150: %s %s: %s%n", refused.getError().getCode(),
          refused.getError().getMessageId(), refusal(refused.getError()));
      ok &= refused.getError().getCode() == Pos.ErrorCode.ERROR_CODE_OUT_OF_RANGE;
    }
    System.exit(ok ? 0 : 1);
  }
}
