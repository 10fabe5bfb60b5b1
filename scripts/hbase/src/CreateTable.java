// Create an HBase table with explicit split keys (pre-split), which the Thrift1 API cannot do.
//
//   java -cp CONF:CLASSPATH:classes CreateTable TABLE FAMILY[,FAMILY...] MAX_VERSIONS [SPLIT ...]
//
// SPLIT uses Bytes.toBytesBinary syntax ("4000", "img_5", "\x80"). N split keys give N+1 regions.
// Exit codes: 0 created, 3 the table already exists, 2 usage, 1 any other failure.
import java.util.Arrays;
import java.util.TreeSet;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hbase.HBaseConfiguration;
import org.apache.hadoop.hbase.TableName;
import org.apache.hadoop.hbase.client.Admin;
import org.apache.hadoop.hbase.client.ColumnFamilyDescriptorBuilder;
import org.apache.hadoop.hbase.client.Connection;
import org.apache.hadoop.hbase.client.ConnectionFactory;
import org.apache.hadoop.hbase.client.TableDescriptorBuilder;
import org.apache.hadoop.hbase.util.Bytes;

public final class CreateTable {
  public static void main(String[] args) throws Exception {
    if (args.length < 3) {
      System.err.println("usage: CreateTable TABLE FAMILY[,FAMILY...] MAX_VERSIONS [SPLIT ...]");
      System.exit(2);
    }
    TableName name = TableName.valueOf(args[0]);
    int maxVersions = Integer.parseInt(args[2]);
    TableDescriptorBuilder table = TableDescriptorBuilder.newBuilder(name);
    for (String family : args[1].split(",")) {
      table.setColumnFamily(ColumnFamilyDescriptorBuilder.newBuilder(Bytes.toBytes(family))
          .setMaxVersions(maxVersions).build());
    }
    // HBase wants the split keys sorted and unique; sort here so callers cannot get it wrong.
    TreeSet<byte[]> sorted = new TreeSet<>(Bytes.BYTES_COMPARATOR);
    for (String split : Arrays.copyOfRange(args, 3, args.length)) {
      sorted.add(Bytes.toBytesBinary(split));
    }
    byte[][] splits = sorted.toArray(new byte[0][]);
    // -Dhbase.*/-Dzookeeper.* system properties override hbase-site.xml (create-table.sh --zk uses it).
    Configuration conf = HBaseConfiguration.create();
    for (String key : System.getProperties().stringPropertyNames()) {
      if (key.startsWith("hbase.") || key.startsWith("zookeeper.")) {
        conf.set(key, System.getProperty(key));
      }
    }
    try (Connection conn = ConnectionFactory.createConnection(conf);
        Admin admin = conn.getAdmin()) {
      if (admin.tableExists(name)) {
        System.err.println("table " + name + " already exists");
        System.exit(3);
      }
      if (splits.length == 0) {
        admin.createTable(table.build());
      } else {
        admin.createTable(table.build(), splits);  // waits for the create procedure, regions assigned
      }
      System.out.println("created " + name + " with " + (splits.length + 1) + " regions");
    }
  }
}
