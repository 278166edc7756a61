// Drives the ECS emulator with the official Node SDK @alicloud/ecs20140526
// in its default settings (ACS3-HMAC-SHA256, JSON). Run by the Go test
// TestConformanceNodeSDK, which starts the emulator and checks what this
// prints: one JSON object per step, {"step", "ok", ...} or
// {"step", "code", "status"} for an expected error.
'use strict';
const Ecs = require('@alicloud/ecs20140526');
const { $OpenApiUtil } = require('@alicloud/openapi-core');

const [endpoint, ak, sk, region, image, vswitch, sgDefault, itype, vpc] = process.argv.slice(2);

function client(secret) {
  return new Ecs.default(new $OpenApiUtil.Config({
    accessKeyId: ak, accessKeySecret: secret, regionId: region, endpoint, protocol: 'http',
  }));
}

function out(o) { process.stdout.write(JSON.stringify(o) + '\n'); }

async function step(name, fn) {
  try {
    out(Object.assign({ step: name, ok: true }, await fn()));
  } catch (e) {
    out({ step: name, ok: false, code: e.code, status: e.statusCode, recommend: e.data && e.data.Recommend, message: e.message });
  }
}

(async () => {
  const c = client(sk);
  await step('regions', async () => {
    const r = await c.describeRegions(new Ecs.DescribeRegionsRequest({}));
    return { regions: r.body.regions.region.map((x) => x.regionId) };
  });
  let ids = [];
  await step('run', async () => {
    const r = await c.runInstances(new Ecs.RunInstancesRequest({
      regionId: region, imageId: image, instanceType: itype, vSwitchId: vswitch, securityGroupId: sgDefault, amount: 2,
      tag: [new Ecs.RunInstancesRequestTag({ key: 'group', value: 'node sdk*~' })],
    }));
    ids = r.body.instanceIdSets.instanceIdSet;
    return { ids };
  });
  await step('list by tag', async () => {
    const r = await c.describeInstances(new Ecs.DescribeInstancesRequest({
      regionId: region, tag: [new Ecs.DescribeInstancesRequestTag({ key: 'group', value: 'node sdk*~' })],
    }));
    return { ids: r.body.instances.instance.map((x) => x.instanceId), statuses: r.body.instances.instance.map((x) => x.status) };
  });
  let sg = '';
  await step('create security group', async () => {
    const r = await c.createSecurityGroup(new Ecs.CreateSecurityGroupRequest({ regionId: region, vpcId: vpc, securityGroupName: 'node' }));
    sg = r.body.securityGroupId;
    return { id: sg };
  });
  await step('authorize', async () => {
    await c.authorizeSecurityGroup(new Ecs.AuthorizeSecurityGroupRequest({
      regionId: region, securityGroupId: sg,
      permissions: [new Ecs.AuthorizeSecurityGroupRequestPermissions({ ipProtocol: 'TCP', portRange: '443/443', sourceCidrIp: '192.168.0.0/16' })],
    }));
    const r = await c.describeSecurityGroupAttribute(new Ecs.DescribeSecurityGroupAttributeRequest({ regionId: region, securityGroupId: sg }));
    return { rules: r.body.permissions.permission.map((p) => `${p.ipProtocol} ${p.portRange} ${p.sourceCidrIp} ${p.policy}`) };
  });
  await step('stop unknown', async () => {
    await c.stopInstance(new Ecs.StopInstanceRequest({ instanceId: 'i-doesnotexist' }));
    return {};
  });
  await step('wrong secret', async () => {
    await client('wrong').describeRegions(new Ecs.DescribeRegionsRequest({}));
    return {};
  });
  await step('delete', async () => {
    await c.deleteInstances(new Ecs.DeleteInstancesRequest({ regionId: region, instanceId: ids, force: true }));
    const r = await c.describeInstances(new Ecs.DescribeInstancesRequest({ regionId: region }));
    return { left: r.body.instances.instance.length };
  });
})().catch((e) => { out({ step: 'fatal', message: String(e) }); process.exit(1); });
