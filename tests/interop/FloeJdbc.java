// pgJDBC (PostgreSQL's JDBC driver) against `floe serve`: the DatabaseMetaData calls
// that JDBC tools (DBeaver, Tableau, Metabase) browse a database with, and prepared
// statements past pgJDBC's prepare threshold (server-side statements, binary results).
//
// Run by tests/interop/run.sh as a single-file program:
//     java -cp /usr/share/java/postgresql.jar tests/interop/FloeJdbc.java
// FLOE_BIN names the floe binary.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.TimeZone;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class FloeJdbc {
    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    static void checkEqual(Object actual, Object expected, String what) {
        if (!Objects.equals(actual, expected)) {
            throw new AssertionError(what + ": expected " + expected + ", got " + actual);
        }
    }

    /** The values of `column` in every row of `rows`, as strings. */
    static List<String> column(ResultSet rows, String column) throws SQLException {
        List<String> values = new ArrayList<>();
        try (rows) {
            while (rows.next()) {
                values.add(rows.getString(column));
            }
        }
        return values;
    }

    static void checkMetadata(Connection connection) throws SQLException {
        DatabaseMetaData metadata = connection.getMetaData();
        checkEqual(metadata.getDatabaseProductName(), "PostgreSQL", "product name");
        checkEqual(metadata.getDatabaseMajorVersion(), 15, "major version");

        List<String> schemas = column(metadata.getSchemas(), "TABLE_SCHEM");
        for (String schema : List.of("public", "sales", "pg_catalog", "information_schema")) {
            check(schemas.contains(schema), "getSchemas lists " + schema + ": " + schemas);
        }
        checkEqual(column(metadata.getSchemas(null, "sal%"), "TABLE_SCHEM"), List.of("sales"), "getSchemas(pattern)");

        String[] tables = {"TABLE"};
        checkEqual(column(metadata.getTables(null, "public", "%", tables), "TABLE_NAME"),
                List.of("people", "visits"), "getTables(public)");
        checkEqual(column(metadata.getTables(null, "sales", "%", tables), "TABLE_NAME"),
                List.of("orders"), "getTables(sales)");
        checkEqual(column(metadata.getTables(null, null, "peo%", null), "TABLE_SCHEM"),
                List.of("public"), "getTables(any schema, pattern)");
        checkEqual(column(metadata.getTables(null, "public", "%", new String[] {"VIEW"}), "TABLE_NAME"),
                List.of(), "getTables(views)");

        List<String> columns = new ArrayList<>();
        try (ResultSet rows = metadata.getColumns(null, "public", "people", "%")) {
            while (rows.next()) {
                columns.add(String.join(" ",
                        rows.getString("COLUMN_NAME"),
                        rows.getString("ORDINAL_POSITION"),
                        Integer.toString(rows.getInt("DATA_TYPE")),
                        rows.getString("TYPE_NAME"),
                        rows.getString("COLUMN_SIZE"),
                        rows.getString("DECIMAL_DIGITS"),
                        rows.getString("IS_NULLABLE")));
            }
        }
        checkEqual(columns, List.of(
                "id 1 " + Types.BIGINT + " int8 19 0 NO",
                "name 2 " + Types.VARCHAR + " text 2147483647 0 YES",
                "born 3 " + Types.DATE + " date 13 0 YES",
                "seen 4 " + Types.TIMESTAMP + " timestamp 29 6 YES",
                "score 5 " + Types.DOUBLE + " float8 17 17 YES",
                "price 6 " + Types.NUMERIC + " numeric 10 2 YES",
                "ok 7 " + Types.BIT + " bool 1 0 YES",
                "n 8 " + Types.INTEGER + " int4 10 0 YES",
                "at_utc 9 " + Types.TIMESTAMP + " timestamptz 35 6 YES"), "getColumns(people)");
        checkEqual(column(metadata.getColumns(null, "sales", "orders", "t%"), "COLUMN_NAME"),
                List.of("total"), "getColumns(pattern)");

        // Iceberg tables have no primary keys (pg_index is empty): the query pgJDBC sends
        // (information_schema._pg_expandarray over index keys) answers with no rows.
        try (ResultSet keys = metadata.getPrimaryKeys(null, "public", "people")) {
            ResultSetMetaData shape = keys.getMetaData();
            List<String> labels = new ArrayList<>();
            for (int i = 1; i <= shape.getColumnCount(); i++) {
                labels.add(shape.getColumnLabel(i).toUpperCase());
            }
            checkEqual(labels, List.of("TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "COLUMN_NAME", "KEY_SEQ", "PK_NAME"),
                    "getPrimaryKeys columns");
            check(!keys.next(), "getPrimaryKeys(people) has no rows");
        }
    }

    static void checkPreparedStatements(Connection connection) throws SQLException {
        String insert = "INSERT INTO people (id, name, born, seen, score, price, ok, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
        Timestamp seen = Timestamp.valueOf("2024-01-01 10:00:15.5");
        // Seven executions: from the fifth, pgJDBC prepares a named statement on the
        // server, and asks for binary results of the types it reads in binary.
        try (PreparedStatement statement = connection.prepareStatement(insert)) {
            for (int i = 0; i < 7; i++) {
                statement.setLong(1, i);
                statement.setString(2, "name " + i);
                statement.setDate(3, Date.valueOf("2024-01-0" + (i + 1)));
                statement.setTimestamp(4, seen);
                statement.setDouble(5, 1.5 * i);
                statement.setBigDecimal(6, new BigDecimal("12.3" + i));
                statement.setBoolean(7, i % 2 == 0);
                if (i == 6) {
                    statement.setNull(8, Types.INTEGER);
                } else {
                    statement.setInt(8, i);
                }
                checkEqual(statement.executeUpdate(), 1, "rows inserted");
            }
        }
        String select = "SELECT id, name, born, seen, score, price, ok, n FROM people WHERE n = ? AND name = ? AND seen = ?";
        try (PreparedStatement statement = connection.prepareStatement(select)) {
            for (int i = 0; i < 6; i++) {
                statement.setInt(1, i);
                statement.setString(2, "name " + i);
                statement.setTimestamp(3, seen);
                try (ResultSet rows = statement.executeQuery()) {
                    check(rows.next(), "a row for n = " + i);
                    checkEqual(rows.getLong(1), (long) i, "id");
                    checkEqual(rows.getString("name"), "name " + i, "name");
                    checkEqual(rows.getDate("born"), Date.valueOf("2024-01-0" + (i + 1)), "born");
                    checkEqual(rows.getTimestamp("seen"), seen, "seen");
                    checkEqual(rows.getDouble("score"), 1.5 * i, "score");
                    checkEqual(rows.getBigDecimal("price"), new BigDecimal("12.3" + i), "price");
                    checkEqual(rows.getBoolean("ok"), i % 2 == 0, "ok");
                    checkEqual(rows.getInt("n"), i, "n");
                    checkEqual(rows.getObject("seen").getClass(), Timestamp.class, "seen's class");
                    check(!rows.next(), "one row for n = " + i);
                }
            }
        }
        try (PreparedStatement statement = connection.prepareStatement("SELECT n, price FROM people WHERE id = ?")) {
            statement.setLong(1, 6);
            try (ResultSet rows = statement.executeQuery()) {
                check(rows.next(), "the row with a NULL n");
                checkEqual(rows.getInt("n"), 0, "a NULL int reads as 0");
                check(rows.wasNull(), "wasNull after a NULL");
                ResultSetMetaData columns = rows.getMetaData();
                checkEqual(columns.getColumnType(1), Types.INTEGER, "n's type");
                checkEqual(columns.getColumnTypeName(2), "numeric", "price's type name");
            }
        }
    }

    static void checkErrors(Connection connection) throws SQLException {
        try (Statement statement = connection.createStatement()) {
            try {
                statement.executeQuery("SELECT * FROM no_such_table");
                throw new AssertionError("a missing table is an error");
            } catch (SQLException error) {
                checkEqual(error.getSQLState(), "42P01", "missing table's SQLSTATE");
            }
            try (ResultSet rows = statement.executeQuery("SELECT count(*) FROM people")) {
                check(rows.next(), "count after an error");
                checkEqual(rows.getLong(1), 7L, "rows in people");
            }
        }
    }

    public static void main(String[] args) throws Exception {
        // Not UTC, so that a client-side time zone shift would show.
        TimeZone.setDefault(TimeZone.getTimeZone("Europe/Paris"));
        Path warehouse = Files.createTempDirectory("floe-jdbc-");
        String floe = System.getenv().getOrDefault("FLOE_BIN", "floe");
        Process server = new ProcessBuilder(floe, "--warehouse", warehouse.toString(), "serve", "--listen", "127.0.0.1:0")
                .redirectOutput(ProcessBuilder.Redirect.INHERIT)
                .start();
        try {
            String line = new BufferedReader(new InputStreamReader(server.getErrorStream())).readLine();
            Matcher match = Pattern.compile("postgresql://127\\.0\\.0\\.1:(\\d+)").matcher(String.valueOf(line));
            check(match.find(), "floe serve did not start: " + line);
            String url = "jdbc:postgresql://127.0.0.1:" + match.group(1) + "/floe?user=floe";
            try (Connection connection = DriverManager.getConnection(url)) {
                try (Statement statement = connection.createStatement()) {
                    statement.execute("CREATE TABLE people (id BIGINT NOT NULL, name VARCHAR, born DATE, "
                            + "seen TIMESTAMP, score DOUBLE, price DECIMAL(10, 2), ok BOOLEAN, n INT, at_utc TIMESTAMPTZ)");
                    statement.execute("CREATE TABLE visits (id BIGINT)");
                    statement.execute("CREATE SCHEMA sales");
                    statement.execute("CREATE TABLE sales.orders (id BIGINT, total DECIMAL(12, 2))");
                }
                checkMetadata(connection);
                checkPreparedStatements(connection);
                checkErrors(connection);
            }
        } finally {
            server.destroy();
            server.waitFor();
            try (var files = Files.walk(warehouse)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
        System.out.println("pgJDBC: ok");
    }
}
