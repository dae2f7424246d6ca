/** dependency-cruiser's configuration: the layering rules of scripts/layer-rules.cjs for this tree. */
module.exports = require("./scripts/layer-rules.cjs").layerConfig(__dirname);
