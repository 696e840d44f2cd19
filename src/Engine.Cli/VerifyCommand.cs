using System.CommandLine;
using Engine.Api.V1;

namespace Engine.Cli;

/// <summary>
/// `engine verify cdnow FILE`: compares every customer's RFM from the server with a direct computation from the file
/// and checks the population invariants (every customer segmented, sizes add up, matrix = histories).
/// </summary>
public static class VerifyCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "Path to CDNOW_master.txt" };
        var cdnow = new Command("cdnow", "Check the server's view of an imported CDNOW log against the file") { file };
        var wait = new Option<string>("--wait")
        {
            Description = "How long to wait for the engine to hold still (a rollout or sweep in progress) before judging, e.g. 60s",
            DefaultValueFactory = _ => "60s",
        };
        cdnow.Options.Add(wait);
        Common.SetAction(cdnow, async (parse, ct) =>
        {
            var rows = CdnowFile.Read(parse.GetValue(file)!.FullName).ToList();
            var expected = CdnowFile.DirectRfm(rows);
            var segments = new SegmentService.SegmentServiceClient(Common.Channel(parse));
            var deadline = DateTime.UtcNow + Durations.Parse(parse.GetValue(wait)!, "--wait");
            var report = await PassAsync(segments, expected, ct);
            // A pass reads histories, then sizes and the matrix: while a rollout or a sweep moves customers they disagree
            // by the moves made in between. Judged once a pass starts and ends on the same matrix, or at the deadline.
            while (!report.Settled && DateTime.UtcNow < deadline)
            {
                Console.Error.WriteLine("verify: the engine is still moving customers (a rollout or sweep); checking again");
                await Task.Delay(TimeSpan.FromSeconds(2), ct);
                report = await PassAsync(segments, expected, ct);
            }
            Common.PrintJson(report.Json);
            Console.Error.WriteLine(report.Ok ? "verify: OK" : "verify: MISMATCH");
            return report.Ok ? 0 : 1;
        });
        return new Command("verify", "Verify the server against a source log") { cdnow };
    }

    private sealed record Report(object Json, bool Ok, bool Settled);

    private static async Task<Report> PassAsync(SegmentService.SegmentServiceClient segments,
        Dictionary<string, (double RecencyDays, long Frequency, double Monetary)> expected, CancellationToken ct)
    {
        var before = await MatrixTotalAsync(segments, ct);
        double maxRecency = 0, maxMonetary = 0;
        long frequencyMismatches = 0, unassigned = 0, found = 0, historyTransitions = 0, outOfOrder = 0;
        foreach (var chunk in expected.Keys.Chunk(1000))
        {
            var request = new BatchGetCustomersRequest();
            request.CustomerIds.AddRange(chunk);
            var response = await segments.BatchGetCustomersAsync(request, cancellationToken: ct);
            foreach (var c in response.Customers)
            {
                found++;
                var (recency, frequency, monetary) = expected[c.CustomerId];
                maxRecency = Math.Max(maxRecency, Math.Abs(recency - c.Rfm.RecencyDays));
                maxMonetary = Math.Max(maxMonetary, Math.Abs(monetary - c.Rfm.Monetary));
                frequencyMismatches += frequency == c.Rfm.Frequency ? 0 : 1;
                unassigned += c.SegmentId == "unassigned" ? 1 : 0;
            }
            var histories = await Task.WhenAll(chunk.Select(id => segments.GetHistoryAsync(new GetHistoryRequest { CustomerId = id }, cancellationToken: ct).ResponseAsync));
            historyTransitions += histories.Sum(h => h.Transitions.Count);
            // Newest first: each move dated no earlier than the one before it.
            outOfOrder += histories.Count(h => h.Transitions.Zip(h.Transitions.Skip(1)).Any(p => p.First.At.ToDateTime() < p.Second.At.ToDateTime()));
        }
        var list = await segments.ListSegmentsAsync(new ListSegmentsRequest(), cancellationToken: ct);
        var after = await MatrixTotalAsync(segments, ct);
        var sizes = list.Segments.Sum(s => s.Size);
        var ok = found == expected.Count && frequencyMismatches == 0 && maxMonetary < 0.005 && maxRecency <= 1e-6
            && unassigned == 0 && sizes == expected.Count && after == historyTransitions && outOfOrder == 0;
        var json = new
        {
            customers_in_file = expected.Count,
            customers_found = found,
            frequency_mismatches = frequencyMismatches,
            max_abs_monetary_diff = maxMonetary,
            max_abs_recency_diff_days = maxRecency,
            unassigned,
            model_version = list.ModelVersion,
            segment_sizes_sum = sizes,
            matrix_counts_plus_entries = after,
            history_transitions = historyTransitions,
            histories_out_of_time_order = outOfOrder,
        };
        return new Report(json, ok, ok || before == after);
    }

    /// <summary>Every move the transition matrix has counted: between segments, and first assignments (entries).</summary>
    private static async Task<long> MatrixTotalAsync(SegmentService.SegmentServiceClient segments, CancellationToken ct)
    {
        var matrix = await segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest(), cancellationToken: ct);
        return matrix.Counts.Sum() + matrix.Entries.Sum();
    }
}
