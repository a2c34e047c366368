// node-postgres (the `pg` npm package) against `floe serve`: connecting, a simple query,
// parameters through the extended protocol, pg's type parsers on every common result
// type (arrays included), a failed statement's SQLSTATE with the session still usable,
// and several statements in one simple query.
//
// Run by tests/interop/run.sh with NODE_PATH naming the `pg` install; FLOE_BIN names the
// floe binary.

// pg turns timestamps without a time zone into Dates in the local zone; pin it.
process.env.TZ = 'UTC';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Client } = require('pg');

const FLOE = process.env.FLOE_BIN || 'floe';

// Starts `floe serve` on a free port and resolves with the process and the port it
// announced on stderr.
function startServer(warehouse) {
  const server = spawn(FLOE, ['--warehouse', warehouse, 'serve', '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let seen = '';
    server.stderr.on('data', (chunk) => {
      seen += chunk;
      const match = seen.match(/postgresql:\/\/127\.0\.0\.1:(\d+)/);
      if (match) resolve({ server, port: Number(match[1]) });
    });
    server.on('exit', (code) => reject(new Error(`floe serve exited (${code}): ${seen}`)));
  });
}

async function checkParameters(client) {
  await client.query(
    'CREATE TABLE events (id INT, name VARCHAR, score DOUBLE, ok BOOLEAN, day DATE, ' +
      'at TIMESTAMP, big BIGINT, price DECIMAL(10, 2))',
  );
  const insert =
    'INSERT INTO events (id, name, score, ok, day, at, big, price) ' +
    'VALUES ($1, $2, $3, $4, $5, $6, $7, $8)';
  const at = new Date(Date.UTC(2024, 0, 1, 10, 0, 15, 500));
  let result = await client.query(insert, [1, 'first é', 2.5, true, '2024-03-04', at, '9007199254740993', '12.34']);
  assert.equal(result.command, 'INSERT');
  assert.equal(result.rowCount, 1);
  // Every parameter NULL: pg sends them untyped, the server infers the column types.
  await client.query(insert, [null, null, null, null, null, null, null, null]);
  await client.query(insert, [2, 'second', -0.125, false, '1969-12-31', '1900-01-01 00:00:00', '-1', '-0.01']);

  result = await client.query('SELECT * FROM events WHERE id = $1', [1]);
  assert.deepEqual(result.rows, [
    {
      id: 1,
      name: 'first é',
      score: 2.5,
      ok: true,
      day: new Date(Date.UTC(2024, 2, 4)),
      at,
      // pg's defaults: int8 and numeric stay strings, so nothing is rounded.
      big: '9007199254740993',
      price: '12.34',
    },
  ]);
  assert.deepEqual(
    result.fields.map((f) => [f.name, f.dataTypeID]),
    [['id', 23], ['name', 25], ['score', 701], ['ok', 16], ['day', 1082], ['at', 1114], ['big', 20], ['price', 1700]],
  );

  // Parameters of each type in a WHERE clause; a NULL parameter matches nothing.
  const byName = await client.query('SELECT id FROM events WHERE name = $1 AND ok = $2', ['second', false]);
  assert.deepEqual(byName.rows, [{ id: 2 }]);
  const byTime = await client.query('SELECT id FROM events WHERE at > $1 AND day < $2 ORDER BY id', [
    new Date(Date.UTC(2000, 0, 1)),
    '2025-01-01',
  ]);
  assert.deepEqual(byTime.rows, [{ id: 1 }]);
  const byScore = await client.query('SELECT id FROM events WHERE score < $1', [0.0]);
  assert.deepEqual(byScore.rows, [{ id: 2 }]);
  const byNull = await client.query('SELECT count(*) AS n FROM events WHERE id = $1', [null]);
  assert.deepEqual(byNull.rows, [{ n: '0' }]);
  const nulls = await client.query('SELECT * FROM events WHERE id IS NULL');
  assert.equal(nulls.rows.length, 1);
  assert.ok(Object.values(nulls.rows[0]).every((v) => v === null), nulls.rows);

  // A prepared statement by name, executed twice with different parameters.
  for (const [id, name] of [[1, 'first é'], [2, 'second']]) {
    const named = await client.query({ name: 'by_id', text: 'SELECT name FROM events WHERE id = $1', values: [id] });
    assert.deepEqual(named.rows, [{ name }]);
  }
  // Rows as arrays rather than objects.
  const asArrays = await client.query({ text: 'SELECT id, name FROM events WHERE id = $1', values: [2], rowMode: 'array' });
  assert.deepEqual(asArrays.rows, [[2, 'second']]);
}

async function checkResultTypes(client) {
  const result = await client.query(
    "SELECT CAST(7 AS INT) AS i4, CAST(2 AS BIGINT) * 1000000000000 AS i8, CAST(1.5 AS DOUBLE) AS f8, " +
      "CAST(12.5 AS DECIMAL(10, 3)) AS num, 1 < 2 AS flag, DATE '2024-01-02' AS day, " +
      "TIMESTAMP '2024-01-02 03:04:05.25' AS ts, 'text é' AS txt, " +
      "make_array(1, 2, 3) AS ints, make_array('a', 'b c', NULL) AS texts, " +
      "make_array(CAST(1.5 AS DOUBLE), 2.5) AS floats, make_array(true, false) AS bools, " +
      "make_array(DATE '2024-05-06') AS days",
  );
  assert.deepEqual(result.rows, [
    {
      i4: 7,
      i8: '2000000000000',
      f8: 1.5,
      num: '12.500',
      flag: true,
      day: new Date(Date.UTC(2024, 0, 2)),
      ts: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 250)),
      txt: 'text é',
      // Integer literals are int8 in Floe, and pg keeps int8 array items as strings.
      ints: ['1', '2', '3'],
      texts: ['a', 'b c', null],
      floats: [1.5, 2.5],
      bools: [true, false],
      days: [new Date(Date.UTC(2024, 4, 6))],
    },
  ]);
  const int4s = await client.query('SELECT make_array(id, -id) AS ids FROM events WHERE id = $1', [1]);
  assert.deepEqual(int4s.rows, [{ ids: [1, -1] }]);
  assert.equal(int4s.fields[0].dataTypeID, 1007);
}

async function checkErrors(client) {
  await assert.rejects(client.query('SELECT * FROM no_such_table'), (error) => {
    assert.equal(error.code, '42P01');
    assert.match(error.message, /no_such_table/);
    return true;
  });
  await assert.rejects(client.query('SELECT no_such_column FROM events'), { code: '42703' });
  await assert.rejects(client.query('SELEC 1'), { code: '42601' });
  // An error inside the extended protocol, at Bind: the parameter is not an int.
  await assert.rejects(client.query('SELECT id FROM events WHERE id = $1', ['not a number']), { code: '22P02' });
  // The session goes on after each of them.
  const after = await client.query('SELECT count(*) AS n FROM events');
  assert.deepEqual(after.rows, [{ n: '3' }]);
}

async function checkMultiStatement(client) {
  // No parameters: pg sends this as one simple Query message and returns one result each.
  const results = await client.query(
    'CREATE TABLE tally (n INT); INSERT INTO tally VALUES (1), (2), (3); ' +
      'SELECT sum(n) AS total FROM tally; SELECT n FROM tally ORDER BY n DESC LIMIT 1',
  );
  assert.deepEqual(
    results.map((r) => [r.command, r.rowCount]),
    [['CREATE', null], ['INSERT', 3], ['SELECT', 1], ['SELECT', 1]],
  );
  assert.deepEqual(results[2].rows, [{ total: '6' }]);
  assert.deepEqual(results[3].rows, [{ n: 3 }]);
  // A failing statement in the middle stops the rest, as in PostgreSQL.
  await assert.rejects(client.query('INSERT INTO tally VALUES (4); SELECT * FROM missing; INSERT INTO tally VALUES (5)'), {
    code: '42P01',
  });
  const left = await client.query('SELECT n FROM tally WHERE n > 3');
  assert.deepEqual(left.rows, [{ n: 4 }]);
}

async function main() {
  const warehouse = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-node-'));
  const { server, port } = await startServer(warehouse);
  try {
    const client = new Client({ host: '127.0.0.1', port, user: 'floe', database: 'floe' });
    await client.connect();
    const version = await client.query('SELECT version() AS v');
    assert.match(version.rows[0].v, /^PostgreSQL 15\.0 \(Floe /);
    await checkParameters(client);
    await checkResultTypes(client);
    await checkErrors(client);
    await checkMultiStatement(client);
    await client.end();
  } finally {
    server.removeAllListeners('exit');
    server.kill('SIGTERM');
    fs.rmSync(warehouse, { recursive: true, force: true });
  }
  console.log('node-postgres: ok');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
