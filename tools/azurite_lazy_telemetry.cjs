// Preloaded into Azurite (`node --require` this file): Azurite requires the applicationinsights SDK when it loads
// (common/Telemetry.js), even with --disableTelemetry, which never touches it. That one require was about 1.2 s of
// the 2.2 s of CPU an Azurite start took on a 2-core machine, and the suite starts Azurite about twenty times.
// Here that module loads on first use instead: the real module, unchanged, if anything ever reads from it.
"use strict";
const Module = require("module");

const load = Module._load;
Module._load = function lazyTelemetry(request, parent, isMain) {
  if (request !== "applicationinsights") {
    return load.apply(this, arguments);
  }
  let real;
  const loaded = () => (real ??= load.call(this, request, parent, isMain));
  return new Proxy(
    {},
    {
      get: (_, key) => Reflect.get(loaded(), key),
      set: (_, key, value) => Reflect.set(loaded(), key, value),
      has: (_, key) => Reflect.has(loaded(), key),
    },
  );
};
