using System.Globalization;
using System.Runtime.InteropServices;

namespace Inference.Benchmarks.Measurement;

/// <summary>CPU time of processes and of the machine, read from Linux's <c>/proc</c>.</summary>
/// <remarks>
/// The kernel reports it in clock ticks (<c>USER_HZ</c>, 100 a second on Linux): a process's user plus system time is
/// its exact run time truncated to a tick, so a difference of two readings is within one tick (10 ms) of the truth.
/// </remarks>
internal static partial class ProcFs
{
    private const int ScClockTicks = 2; // _SC_CLK_TCK in glibc's <bits/confname.h>

    public static long TicksPerSecond { get; } = Math.Max(1, SysConf(ScClockTicks));

    public static double TicksToMilliseconds(long ticks) => ticks * 1000.0 / TicksPerSecond;

    /// <summary>Every process visible now, by pid. Processes that end while they are read are left out.</summary>
    public static IReadOnlyDictionary<int, ProcessTimes> ReadProcesses()
    {
        var processes = new Dictionary<int, ProcessTimes>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) &&
                Read(pid) is { } times)
            {
                processes[pid] = times;
            }
        }

        return processes;
    }

    /// <summary>One process's times, or null if it does not exist (or no longer does).</summary>
    public static ProcessTimes? Read(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        // The name sits in parentheses and may itself hold spaces and parentheses: the fields resume after the last ')'.
        var nameEnd = stat.LastIndexOf(')');
        var name = stat[(stat.IndexOf('(', StringComparison.Ordinal) + 1)..nameEnd];
        var fields = stat[(nameEnd + 2)..].Split(' ');
        // proc(5) numbers the fields from 1, pid and name being 1 and 2: field n is fields[n - 3] here.
        long Field(int n) => long.Parse(fields[n - 3], CultureInfo.InvariantCulture);
        return new ProcessTimes(pid, (int)Field(4), name, Field(14), Field(15), Field(16), Field(17));
    }

    /// <summary>
    /// The CPU time of <paramref name="root"/> and every process below it, including those that ended and were waited
    /// for by a parent in the tree (counted in that parent's children's times). Zero if the root is gone.
    /// </summary>
    public static long TreeTicks(IReadOnlyDictionary<int, ProcessTimes> processes, int root)
    {
        if (!processes.ContainsKey(root))
            return 0;

        var children = processes.Values.ToLookup(p => p.ParentPid, p => p.Pid);
        var total = 0L;
        var pending = new Stack<int>([root]);
        while (pending.TryPop(out var pid))
        {
            if (!processes.TryGetValue(pid, out var process))
                continue;

            // A live process's own time and that of the children it has reaped: when a process in the tree ends, its
            // time moves from its own line into its parent's children's times, so the sum neither drops nor counts twice.
            total += process.OwnTicks + process.ReapedChildrenTicks;
            foreach (var child in children[pid])
                pending.Push(child);
        }

        return total;
    }

    /// <summary>The machine's CPU time so far, all cores together, from the first line of <c>/proc/stat</c>.</summary>
    public static MachineTimes ReadMachine()
    {
        var line = File.ReadLines("/proc/stat").First(l => l.StartsWith("cpu ", StringComparison.Ordinal));
        var values = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        long At(int index) => index < values.Length ? values[index] : 0;
        // user nice system idle iowait irq softirq steal (guest time is already inside user).
        return new MachineTimes(Processes: At(0) + At(1) + At(2), Idle: At(3) + At(4), Interrupts: At(5) + At(6), Steal: At(7));
    }

    [LibraryImport("libc", EntryPoint = "sysconf")]
    private static partial long SysConf(int name);
}

/// <summary>A process's CPU time in clock ticks, from <c>/proc/PID/stat</c>.</summary>
/// <param name="Pid">Its process id.</param>
/// <param name="ParentPid">Its parent's.</param>
/// <param name="Name">Its command name, at most 15 characters.</param>
/// <param name="UserTicks">utime: in user mode, all its threads, ended ones included.</param>
/// <param name="SystemTicks">stime: in the kernel on its behalf.</param>
/// <param name="ChildUserTicks">cutime: user time of children it has waited for, and of theirs.</param>
/// <param name="ChildSystemTicks">cstime: likewise in the kernel.</param>
internal sealed record ProcessTimes(int Pid, int ParentPid, string Name, long UserTicks, long SystemTicks, long ChildUserTicks, long ChildSystemTicks)
{
    public long OwnTicks => UserTicks + SystemTicks;

    public long ReapedChildrenTicks => ChildUserTicks + ChildSystemTicks;
}

/// <summary>The machine's CPU time in clock ticks, summed over its cores.</summary>
/// <param name="Processes">In user and system mode: what processes are charged with.</param>
/// <param name="Idle">Idle, including waiting for I/O.</param>
/// <param name="Interrupts">Serving hardware and software interrupts, which no process is charged with (much of loopback networking).</param>
/// <param name="Steal">Taken by the hypervisor for other guests.</param>
internal sealed record MachineTimes(long Processes, long Idle, long Interrupts, long Steal)
{
    public long Total => Processes + Idle + Interrupts + Steal;

    public static MachineTimes operator -(MachineTimes end, MachineTimes start) =>
        new(end.Processes - start.Processes, end.Idle - start.Idle, end.Interrupts - start.Interrupts, end.Steal - start.Steal);
}
