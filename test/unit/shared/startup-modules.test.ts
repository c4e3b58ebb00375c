/* eslint-disable @typescript-eslint/no-require-imports -- each load must happen inside jest.isolateModules, after the probes are in place */
/**
 * What a Widget server loads before it serves. Every pod start pays for it in CPU, and 20
 * AggregatedAPIs applied at once start 20 servers on the same nodes (bench/README.md, "start-up"). The
 * etcd client, node-forge, the CEL runtime and the yaml library are loaded only by the code that needs
 * them: etcd storage, standalone credentials, the CEL worker or the policy compiler, and YAML bodies,
 * answers and kubeconfig files.
 */
const HEAVY = ['etcd3', 'node-forge', '@bufbuild/cel', 'yaml'];

/** Runs `load` in a fresh module registry and returns which of HEAVY it required. */
function heavyModulesLoadedBy(load: () => void): string[] {
  const loaded: string[] = [];
  jest.isolateModules(() => {
    for (const name of HEAVY) {
      jest.doMock(name, () => {
        loaded.push(name);
        return jest.requireActual(name);
      });
    }
    load();
  });
  return loaded.sort();
}

test('loading the Widget server and its configuration loads none of etcd3, node-forge, CEL or yaml', () => {
  expect(
    heavyModulesLoadedBy(() => {
      require('../../../src/widget-server/widget-server');
      require('../../../src/widget-server/config');
    }),
  ).toEqual([]);
});

test('the code that needs them does load them (the check above can see a load)', () => {
  expect(
    heavyModulesLoadedBy(() => {
      const server =
        require('../../../src/widget-server/widget-server') as typeof import('../../../src/widget-server/widget-server');
      const { parseConfig } =
        require('../../../src/widget-server/config') as typeof import('../../../src/widget-server/config');
      // Constructing etcd storage makes no connection until the first call.
      const storage = server.createStorage(parseConfig(['--etcd-servers=http://127.0.0.1:1']));
      void storage.close();
      require('../../../src/widget-server/standalone');
      require('../../../src/widget-server/admission/cel/cel');
      const { yaml } = require('../../../src/shared/yaml') as typeof import('../../../src/shared/yaml');
      expect(yaml().stringify({ a: 1 })).toBe('a: 1\n');
    }),
  ).toEqual(['@bufbuild/cel', 'etcd3', 'node-forge', 'yaml']);
});
