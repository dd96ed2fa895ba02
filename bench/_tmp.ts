import { benchRetention } from "./retention.js";
console.log(JSON.stringify(await benchRetention(Number(process.argv[2]))));
