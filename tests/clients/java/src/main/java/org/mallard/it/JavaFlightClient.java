package org.mallard.it;

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.arrow.flight.ActionType;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightDescriptor;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.PutResult;
import org.apache.arrow.flight.SyncPutListener;
import org.apache.arrow.flight.Ticket;
import org.apache.arrow.flight.grpc.CredentialCallOption;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.BitVector;
import org.apache.arrow.vector.DecimalVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.TimeStampVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Apache Arrow's Java Flight client against a running `mallard serve`: the basic-token handshake
 * (and a wrong password), DoGet of a typed query, DoPut of a table in several batches with
 * nulls, DoExchange through `processed`, ListActions and a SQL error. Prints one `key=value`
 * line per finding; tests/integration/service/test_java_client.py checks them against pyarrow.
 *
 * <p>usage: JavaFlightClient HOST PORT PASSWORD TABLE SQL (SQL: the DoGet query, with the columns
 * i BIGINT, s VARCHAR, d DECIMAL, dd DOUBLE, ts TIMESTAMP (whole seconds from 2024-01-01), n
 * BIGINT with nulls)
 */
public final class JavaFlightClient {
  private static final int PUT_BATCHES = 5;
  private static final int PUT_ROWS_PER_BATCH = 10_000;

  private JavaFlightClient() {}

  private static void out(String key, Object value) {
    System.out.println(key + "=" + value);
  }

  /** "name:type;name:type" in Arrow Java's notation of the types. */
  private static String fieldList(Schema schema) {
    List<String> parts = new ArrayList<>();
    for (Field f : schema.getFields()) {
      parts.add(f.getName() + ":" + f.getType());
    }
    return String.join(";", parts);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  public static void main(String[] args) throws Exception {
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    String password = args[2];
    String table = args[3];
    String sql = args[4];
    try (BufferAllocator allocator = new RootAllocator();
        FlightClient client =
            FlightClient.builder(allocator, Location.forGrpcInsecure(host, port)).build()) {
      try {
        client.authenticateBasicToken("admin", password + "-wrong");
        out("wrong_password", "accepted");
      } catch (FlightRuntimeException e) {
        out("wrong_password", e.status().code());
      }
      Optional<CredentialCallOption> token = client.authenticateBasicToken("admin", password);
      CredentialCallOption bearer = token.orElseThrow();

      doGet(client, bearer, sql);
      doPut(client, allocator, bearer, table);
      doExchange(client, allocator, bearer);

      List<String> names = new ArrayList<>();
      for (ActionType t : client.listActions(bearer)) {
        names.add(t.getType());
      }
      out("actions", String.join(",", names));

      try (FlightStream s =
          client.getStream(new Ticket(utf8("SELECT * FROM no_such_table_from_java")), bearer)) {
        while (s.next()) {
          // the error arrives with the first read
        }
        out("sql_error", "none");
      } catch (FlightRuntimeException e) {
        out("sql_error", e.status().code());
        out("sql_error_mentions_table", e.getMessage().contains("no_such_table_from_java"));
      }
    }
    out("done", true);
  }

  private static final long EPOCH_2024_MICROS = 1_704_067_200_000_000L;

  private static void doGet(FlightClient client, CredentialCallOption bearer, String sql)
      throws Exception {
    long rows = 0, sumI = 0, sumLen = 0, sumTs = 0, nulls = 0;
    BigDecimal sumD = BigDecimal.ZERO;
    double sumDd = 0;
    try (FlightStream s = client.getStream(new Ticket(utf8(sql)), bearer)) {
      VectorSchemaRoot root = s.getRoot();
      out("get_schema", fieldList(root.getSchema()));
      while (s.next()) {
        BigIntVector i = (BigIntVector) root.getVector("i");
        FieldVector str = root.getVector("s");
        DecimalVector d = (DecimalVector) root.getVector("d");
        Float8Vector dd = (Float8Vector) root.getVector("dd");
        TimeStampVector ts = (TimeStampVector) root.getVector("ts");
        FieldVector n = root.getVector("n");
        for (int r = 0; r < root.getRowCount(); r++) {
          sumI += i.get(r);
          sumLen += str.getObject(r).toString().length();
          sumD = sumD.add(d.getObject(r));
          sumDd += dd.get(r);
          sumTs += ts.get(r) - EPOCH_2024_MICROS;
          if (n.isNull(r)) {
            nulls++;
          }
        }
        rows += root.getRowCount();
      }
    }
    out("get_rows", rows);
    out("get_sum_i", sumI);
    out("get_sum_len", sumLen);
    out("get_sum_d", sumD.toPlainString());
    out("get_sum_dd", sumDd);
    out("get_sum_ts", sumTs);
    out("get_nulls", nulls);
  }

  private static void doPut(
      FlightClient client, BufferAllocator allocator, CredentialCallOption bearer, String table)
      throws Exception {
    Schema schema =
        new Schema(
            List.of(
                Field.nullable("k", new ArrowType.Int(64, true)),
                Field.nullable("name", ArrowType.Utf8.INSTANCE)));
    String cmd = "{\"table\": \"" + table + "\", \"mode\": \"replace\"}";
    try (VectorSchemaRoot root = VectorSchemaRoot.create(schema, allocator)) {
      SyncPutListener listener = new SyncPutListener();
      FlightClient.ClientStreamListener w =
          client.startPut(FlightDescriptor.command(utf8(cmd)), root, listener, bearer);
      BigIntVector k = (BigIntVector) root.getVector("k");
      VarCharVector name = (VarCharVector) root.getVector("name");
      for (int b = 0; b < PUT_BATCHES; b++) {
        root.allocateNew();
        for (int r = 0; r < PUT_ROWS_PER_BATCH; r++) {
          long v = (long) b * PUT_ROWS_PER_BATCH + r;
          k.setSafe(r, v);
          if (v % 7 == 0) {
            name.setNull(r);
          } else {
            name.setSafe(r, utf8("n" + v));
          }
        }
        root.setRowCount(PUT_ROWS_PER_BATCH);
        w.putNext();
      }
      w.completed();
      try (PutResult result = listener.read()) {
        ArrowBuf meta = result.getApplicationMetadata();
        byte[] bytes = new byte[(int) meta.readableBytes()];
        meta.getBytes(0, bytes);
        out("put_result", new String(bytes, StandardCharsets.UTF_8));
      }
      w.getResult();
    }
  }

  private static void doExchange(
      FlightClient client, BufferAllocator allocator, CredentialCallOption bearer)
      throws Exception {
    Schema schema = new Schema(List.of(Field.nullable("x", new ArrowType.Int(64, true))));
    long rows = 0, trues = 0, sumX = 0;
    String outSchema = "";
    try (VectorSchemaRoot root = VectorSchemaRoot.create(schema, allocator);
        FlightClient.ExchangeReaderWriter rw =
            client.doExchange(FlightDescriptor.command(utf8("processed")), bearer)) {
      rw.getWriter().start(root);
      BigIntVector x = (BigIntVector) root.getVector("x");
      for (int b = 0; b < 3; b++) {
        root.allocateNew();
        for (int r = 0; r < 1000; r++) {
          x.setSafe(r, b * 1000L + r);
        }
        root.setRowCount(1000);
        rw.getWriter().putNext();
      }
      rw.getWriter().completed();
      FlightStream in = rw.getReader();
      while (in.next()) {
        VectorSchemaRoot got = in.getRoot();
        outSchema = fieldList(got.getSchema());
        BigIntVector gx = (BigIntVector) got.getVector("x");
        BitVector p = (BitVector) got.getVector("processed");
        for (int r = 0; r < got.getRowCount(); r++) {
          sumX += gx.get(r);
          trues += p.get(r);
        }
        rows += got.getRowCount();
      }
    }
    out("exchange_schema", outSchema);
    out("exchange_rows", rows);
    out("exchange_trues", trues);
    out("exchange_sum_x", sumX);
  }
}
