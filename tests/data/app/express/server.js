// Test fixture: answers GET / on 127.0.0.1:$PORT (default 8080) with a fixed text.
const express = require("express");

const app = express();
app.get("/", (req, res) => {
  res.type("text/plain").send(`hello from express on node ${process.versions.node}, uid ${process.getuid()}\n`);
});

const port = Number(process.env.PORT || 8080);
const server = app.listen(port, "127.0.0.1");
if (process.env.SERVE_ONE_REQUEST) {
  // the tests' mode: answer once, then exit
  server.on("request", (req, res) => res.on("finish", () => server.close()));
}
