/** `clipflow shard --data DATA --out DIR [--per-shard N]`: writes tar shards + index.json for streaming. */
import { openDataset } from "../../io/datasets.ts";
import { writeShards } from "../../io/shards.ts";
import { intFlag, parseCommandArgs, requireFlag, stringFlag } from "../args.ts";

export const help = `clipflow shard --data DATA --out DIR [--per-shard N] [--split train|test]

Packs the videos of DATA (a folder, split list, manifest or TSP annotations) into tar shards of N samples each
(the encoded video plus a JSON record with id, label, class, split, segments and meta) and writes DIR/index.json.
Read them back with the "shards" source stage or --data DIR/index.json, from disk or over http(s).

  --per-shard N   samples per shard (default 100)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs("shard", argv, { data: { type: "string" }, out: { type: "string" }, "per-shard": { type: "string" }, split: { type: "string" } });
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const data = requireFlag(values, "data", "shard");
  const out = requireFlag(values, "out", "shard");
  const split = stringFlag(values, "split");
  const dataset = openDataset(data, split === "train" || split === "test" ? { split } : {});
  const index = await writeShards(dataset.videos, out, intFlag(values, "per-shard", 100, 1));
  const bytes = index.shards.reduce((sum, shard) => sum + shard.bytes, 0);
  process.stdout.write(`wrote ${index.shards.length} shards (${dataset.videos.length} videos, ${(bytes / 2 ** 20).toFixed(1)} MiB) and ${out}/index.json\n`);
  return 0;
}
