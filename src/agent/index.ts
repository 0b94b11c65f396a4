/** The link agent (agent.ts), its heartbeats-on-behalf (lease.ts) and its command line (cli.ts). */
export { Agent, AgentError, startAgent, type AgentOptions, type AgentStatus } from './agent';
export { LeaseKeeper, DEFAULT_GRACE_MS, type LeaseKeeperOptions } from './lease';
export { signFrames } from './sign-frames';
export { runAgentCli, AGENT_USAGE } from './cli';
