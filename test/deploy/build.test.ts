import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { buildReleaseImage, releaseImageTag, releaseLabels, renderDockerfile } from "../../src/deploy/build";
import { imagePull, releaseBuild } from "../../src/deploy/commands";
import { CommandFailed, Conflict, Invalid } from "../../src/errors";
import { run } from "../../src/exec/run";
import { syncMirror } from "../../src/git/mirror";
import { docker, dockerClient } from "../../src/host/docker";
import { removeByLabel, testNamePrefix } from "../support/docker";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { makeRepo, type TestRepo } from "../git/repo";

const SLOW = 300_000;
const STANDIN = "odooops-test/odoo:17.0";
const cfg = { binary: "docker" };
const d = docker(cfg);
const client = dockerClient(cfg);

describe("release build command builders", () => {
  test("template Dockerfile on stdin, labels, ODOO_IMAGE build argument, --force-rm", () => {
    const c = releaseBuild(cfg, {
      context: "/w/context-0123456789ab",
      tag: "odooops-shop:0123456789ab",
      odooImage: "odoo:17.0",
      labels: {
        "odooops.managed": "true",
        "odooops.env": "env1",
        "odooops.commit": "0123456789abcdef0123456789abcdef01234567",
      },
      dockerfile: { text: "ARG ODOO_IMAGE\nFROM ${ODOO_IMAGE}\n" },
    });
    expect(c.argv).toEqual([
      "docker",
      "build",
      "--force-rm",
      "--tag",
      "odooops-shop:0123456789ab",
      "--label",
      "odooops.managed=true",
      "--label",
      "odooops.env=env1",
      "--label",
      "odooops.commit=0123456789abcdef0123456789abcdef01234567",
      "--build-arg",
      "ODOO_IMAGE=odoo:17.0",
      "--file",
      "-",
      "/w/context-0123456789ab",
    ]);
    expect(c.stdin).toBe("ARG ODOO_IMAGE\nFROM ${ODOO_IMAGE}\n");
    expect(c.timeoutMs).toBe(3_600_000);
  });

  test("the repository's own Dockerfile by path; pull", () => {
    const c = releaseBuild(
      { binary: "/usr/bin/docker" },
      {
        context: "/w/ctx",
        tag: "p-s:0123456789ab",
        odooImage: "registry.example.com/odoo:17.0-20240501",
        labels: {},
        dockerfile: { path: "/w/ctx/Dockerfile" },
      },
    );
    expect(c.argv).toEqual([
      "/usr/bin/docker",
      "build",
      "--force-rm",
      "--tag",
      "p-s:0123456789ab",
      "--build-arg",
      "ODOO_IMAGE=registry.example.com/odoo:17.0-20240501",
      "--file",
      "/w/ctx/Dockerfile",
      "/w/ctx",
    ]);
    expect(c.stdin).toBeUndefined();
    expect(imagePull(cfg, "odoo:17.0").argv).toEqual(["docker", "pull", "odoo:17.0"]);
    expect(() => imagePull(cfg, "--help")).toThrow(Invalid);
    expect(() =>
      releaseBuild(cfg, { context: "/c", tag: "x:1", odooImage: "-x", labels: {}, dockerfile: { text: "" } }),
    ).toThrow(Invalid);
  });

  test("tags and labels", () => {
    const sha = "0123456789ABCDEF0123456789abcdef01234567";
    expect(releaseImageTag("odooops", "shop-staging", sha)).toBe("odooops-shop-staging:0123456789ab");
    expect(() => releaseImageTag("Odooops", "shop", sha)).toThrow(/lowercase/);
    expect(() => releaseImageTag("odooops", "shop;x", sha)).toThrow(Invalid);
    expect(() => releaseImageTag("odooops", "shop", "0123456")).toThrow(/at least 12/);
    expect(releaseLabels({ id: "e1", odooImage: "odoo:17.0" }, "abc")).toEqual({
      "odooops.managed": "true",
      "odooops.env": "e1",
      "odooops.commit": "abc",
      "odooops.base": "odoo:17.0",
    });
  });

  test("the template: labels from the first step, ownership by the image's user, pip only with requirements.txt", () => {
    const L = { "odooops.managed": "true", "odooops.env": "01HX-env_1" };
    const plain = renderDockerfile({ user: "odoo", requirements: false, labels: L });
    expect(plain).toContain("ARG ODOO_IMAGE\nFROM ${ODOO_IMAGE}\n# Labelled");
    expect(plain).toContain('\nLABEL odooops.managed="true" odooops.env="01HX-env_1"\n');
    expect(() =>
      renderDockerfile({ user: "odoo", requirements: false, labels: { "odooops.env": 'x"\nRUN id' } }),
    ).toThrow(Invalid);
    expect(plain).toContain("COPY --chown=odoo:odoo . /mnt/extra-addons\n");
    expect(plain).not.toContain("pip3");
    expect(plain).not.toContain("USER");
    const withReq = renderDockerfile({ user: "odoo", requirements: true, labels: L });
    expect(withReq).toContain(
      "USER root\nCOPY requirements.txt /tmp/odooops-requirements.txt\nRUN PIP_BREAK_SYSTEM_PACKAGES=1 pip3 install --no-cache-dir -r /tmp/odooops-requirements.txt",
    );
    expect(withReq.indexOf("pip3")).toBeLessThan(withReq.indexOf("COPY --chown=odoo:odoo ."));
    expect(withReq).toContain("USER odoo\n");
    expect(renderDockerfile({ user: "101:101", requirements: false, labels: L })).toContain(
      "COPY --chown=101:101 . /mnt/extra-addons",
    );
    const root = renderDockerfile({ user: "", requirements: true, labels: L });
    expect(root).toContain("COPY . /mnt/extra-addons");
    expect(root).not.toMatch(/USER (?!root)/);
  });
});

describe("buildReleaseImage against the engine", () => {
  const envId = `test-${randomSuffix(12)}`;
  const namePrefix = testNamePrefix();
  const env = { id: envId, slug: "shop", odooImage: STANDIN };
  const extraTags: string[] = [];
  let tmp: string;
  let reposDir: string;

  async function repoWith(
    name: string,
    files: Record<string, string>,
  ): Promise<{ repo: TestRepo; mirror: string; sha: string }> {
    const repo = await makeRepo(join(tmp, name));
    const sha = await repo.commit(files);
    return { repo, mirror: await syncMirror({ reposDir, url: repo.url }), sha };
  }

  const inImage = async (image: string, ...argv: string[]) =>
    (await run(d.run({ image, rm: true, labels: { "odooops.env": envId }, entrypoint: argv[0], args: argv.slice(1) })))
      .stdout;

  beforeAll(() => {
    tmp = makeTempDir("odooops-build-");
    reposDir = join(tmp, "repos");
  });

  afterAll(async () => {
    await removeByLabel(`odooops.env=${envId}`);
    for (const t of extraTags) await run(d.imageRm(t), { nothrow: true });
    removeTempDir(tmp);
  }, SLOW);

  const manifest = "{'name': 'Acme Sales', 'version': '1.0', 'depends': ['sale']}\n";

  test(
    "builds FROM the env's image with the addons in /mnt/extra-addons owned by odoo, then reuses it",
    async () => {
      const { mirror, sha } = await repoWith("plain", {
        "acme_sales/__manifest__.py": manifest,
        "acme_sales/models/__init__.py": "",
        "README.md": "# addons\n",
      });
      const lines: string[] = [];
      const built = await buildReleaseImage({
        docker: cfg,
        namePrefix,
        env,
        mirror,
        sha,
        workDir: join(tmp, "work"),
        log: (l) => lines.push(l),
      });
      expect(built.image).toBe(`${namePrefix}-shop:${sha.slice(0, 12)}`);
      expect(built.reused).toBe(false);
      expect(lines.some((l) => l.includes(`building ${built.image} from ${STANDIN}`))).toBe(true);
      expect(await inImage(built.image, "cat", "/mnt/extra-addons/acme_sales/__manifest__.py")).toBe(manifest);
      expect(
        (
          await inImage(
            built.image,
            "stat",
            "-c",
            "%U:%G",
            "/mnt/extra-addons/acme_sales/__manifest__.py",
            "/mnt/extra-addons/acme_sales/models",
          )
        )
          .trim()
          .split("\n"),
      ).toEqual(["odoo:odoo", "odoo:odoo"]);
      expect((await inImage(built.image, "ls", "-A", "/mnt/extra-addons")).trim().split("\n").sort()).toEqual([
        "README.md",
        "acme_sales",
      ]);
      const info = await client.inspectImage(built.image);
      expect(info?.Id).toBe(built.id);
      expect(info?.Config.Labels).toMatchObject({
        "odooops.managed": "true",
        "odooops.env": envId,
        "odooops.commit": sha,
        "odooops.base": STANDIN,
      });
      // The stand-in's entrypoint and user are kept: it still is Odoo. (Through the entrypoint even
      // `--version` first waits for a database, as the official image does; `odoo` itself answers.)
      expect(
        (
          await run({
            argv: [
              "docker",
              "image",
              "inspect",
              "--format",
              "{{json .Config.Entrypoint}} {{.Config.User}}",
              built.image,
            ],
          })
        ).stdout.trim(),
      ).toBe('["/entrypoint.sh"] odoo');
      expect(
        (
          await run(
            d.run({
              image: built.image,
              rm: true,
              labels: { "odooops.env": envId },
              entrypoint: "odoo",
              args: ["--version"],
            }),
          )
        ).stdout,
      ).toContain("Odoo Server 17.0");

      const again: string[] = [];
      const second = await buildReleaseImage({
        docker: cfg,
        namePrefix,
        env,
        mirror,
        sha,
        workDir: join(tmp, "work"),
        log: (l) => again.push(l),
      });
      expect(second).toEqual({ image: built.image, reused: true, id: built.id });
      expect(again.some((l) => l.includes("building"))).toBe(false);

      // Another env that happens to share the slug (destroyed and recreated) gets its own build.
      const other = await buildReleaseImage({
        docker: cfg,
        namePrefix,
        env: { ...env, id: `${envId}-b` },
        mirror,
        sha,
        workDir: join(tmp, "work"),
      });
      extraTags.push(other.image);
      await removeByLabel(`odooops.env=${envId}-b`);
      expect(other.reused).toBe(false);
    },
    SLOW,
  );

  test(
    "a repository with its own Dockerfile is built with it, with ODOO_IMAGE and odooops' labels",
    async () => {
      const { mirror, sha } = await repoWith("own", {
        Dockerfile:
          "ARG ODOO_IMAGE\nFROM ${ODOO_IMAGE}\nENV ACME_OWN_DOCKERFILE=1\nCOPY --chown=odoo:odoo addons/ /mnt/extra-addons/\n",
        "addons/acme_sales/__manifest__.py": manifest,
      });
      const built = await buildReleaseImage({ docker: cfg, namePrefix, env, mirror, sha, workDir: join(tmp, "work") });
      expect(built.reused).toBe(false);
      const raw = JSON.parse((await run(d.imageInspect(built.image))).stdout)[0] as {
        Config: { Env: string[]; Labels: Record<string, string> };
      };
      expect(raw.Config.Env).toContain("ACME_OWN_DOCKERFILE=1");
      expect(raw.Config.Labels).toMatchObject({
        "odooops.managed": "true",
        "odooops.env": envId,
        "odooops.commit": sha,
      });
      expect((await inImage(built.image, "ls", "/mnt/extra-addons")).trim()).toBe("acme_sales");
    },
    SLOW,
  );

  test(
    "a failing build throws CommandFailed with the tail of the build output and leaves nothing behind",
    async () => {
      const marker = `boom-${randomSuffix()}`;
      const { mirror, sha } = await repoWith("broken", {
        Dockerfile: `ARG ODOO_IMAGE\nFROM \${ODOO_IMAGE}\nRUN echo "step output ${marker}" && echo "error: ${marker} missing" >&2 && exit 3\n`,
        "acme_sales/__manifest__.py": manifest,
      });
      let err: unknown;
      try {
        await buildReleaseImage({ docker: cfg, namePrefix, env, mirror, sha, workDir: join(tmp, "work") });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CommandFailed);
      const message = (err as Error).message;
      expect(message).toContain(`docker build of ${namePrefix}-shop:${sha.slice(0, 12)} failed`);
      expect(message).toContain(`step output ${marker}`);
      expect(message).toContain(`error: ${marker} missing`);
      expect(await client.inspectImage(`${namePrefix}-shop:${sha.slice(0, 12)}`)).toBeNull();
      const containers = await run({ argv: ["docker", "ps", "--all", "--no-trunc", "--format", "{{.Command}}"] });
      expect(containers.stdout).not.toContain(marker);
      expect(
        await Array.fromAsync(new Bun.Glob("context-*").scan({ cwd: join(tmp, "work"), onlyFiles: false })),
      ).toEqual([]);
    },
    SLOW,
  );

  test(
    "requirements.txt is installed with pip3 (the stand-in has none: the failure says so)",
    async () => {
      const { mirror, sha } = await repoWith("reqs", {
        "acme_sales/__manifest__.py": manifest,
        "requirements.txt": "requests==2.31.0\n",
      });
      const lines: string[] = [];
      const failed = buildReleaseImage({
        docker: cfg,
        namePrefix,
        env,
        mirror,
        sha,
        workDir: join(tmp, "work"),
        log: (l) => lines.push(l),
      });
      await expect(failed).rejects.toBeInstanceOf(CommandFailed);
      await expect(failed).rejects.toThrow(/pip3: not found/);
      expect(lines.some((l) => l.includes("pip3 install --no-cache-dir -r /tmp/odooops-requirements.txt"))).toBe(true);
    },
    SLOW,
  );

  test(
    "an image with the release's tag that odooops did not build is never overwritten",
    async () => {
      const { mirror, sha } = await repoWith("foreign", { "acme_sales/__manifest__.py": manifest });
      const tag = `${namePrefix}-shop:${sha.slice(0, 12)}`;
      await run({ argv: ["docker", "tag", STANDIN, tag] });
      extraTags.push(tag);
      await expect(
        buildReleaseImage({ docker: cfg, namePrefix, env, mirror, sha, workDir: join(tmp, "work") }),
      ).rejects.toBeInstanceOf(Conflict);
      expect((await client.inspectImage(tag))?.Id).toBe((await client.inspectImage(STANDIN))?.Id);
    },
    SLOW,
  );
});
