// How the death of a tool skill's process maps to the error of the call it was running: out of
// memory, out of CPU time, or a crash a safe skill may retry.
import { SkillExecutionError } from '../../errors/index.js';
import type { Skill } from '../types.js';
import type { SandboxLimits } from './confinement.js';
import type { SandboxProcess } from './sandbox-process.js';

/** Maps how a process died to the error of the call it was running. */
export function crashError(skill: Skill, proc: SandboxProcess, limits: SandboxLimits): SkillExecutionError {
  const data = { skill_id: skill.id, ...proc.crashData() };
  const stderr = proc.stderrTail;
  if (/heap out of memory|Allocation failed|Reached heap limit/i.test(stderr)) {
    return new SkillExecutionError(
      `skill ${skill.id} ran out of memory (heap limit ${limits.heapMb} MB, memory limit ${limits.memoryMb} MB)`,
      'resource_exhausted',
      { data: { ...data, limit: 'memory' } },
    );
  }
  if (proc.exitInfo?.signal === 'SIGXCPU') {
    return new SkillExecutionError(
      `skill ${skill.id} used more than ${limits.cpuSec} CPU seconds`,
      'resource_exhausted',
      { data: { ...data, limit: 'cpu' } },
    );
  }
  // A crash may be passing (a signal from outside): callers may retry a safe skill.
  return new SkillExecutionError(`the process of skill ${skill.id} exited unexpectedly`, 'skill_crashed', {
    data,
  });
}
