// `npm run bench [-- AREA…]`: runs the benchmark of each area (all when none is named). Each area is
// a module in bench/ exporting `run()`, which prints its results and the ratio to its peer.
const areas: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  validate: () => import("./validate.js"),
  generator: () => import("./generator.js"),
  push: () => import("./push.js"),
  decisions: () => import("./decisions.js"),
  kubernetes: () => import("./kubernetes.js"),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in areas));
if (unknown.length > 0) {
  console.error(
    `unknown benchmark area: ${unknown.join(", ")}; known: ${Object.keys(areas).join(", ") || "none yet"}`,
  );
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(areas)) {
  console.log(`\n## ${name}\n`);
  const area = await (areas[name] as () => Promise<{ run(): Promise<void> }>)();
  await area.run();
}
