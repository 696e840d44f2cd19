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
        Common.SetAction(cdnow, async (parse, ct) =>
        {
            var rows = CdnowFile.Read(parse.GetValue(file)!.FullName).ToList();
            var expected = CdnowFile.DirectRfm(rows);
            var channel = Common.Channel(parse);
            var segments = new SegmentService.SegmentServiceClient(channel);
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
            var matrix = await segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest(), cancellationToken: ct);
            var report = new
            {
                customers_in_file = expected.Count,
                customers_found = found,
                frequency_mismatches = frequencyMismatches,
                max_abs_monetary_diff = maxMonetary,
                max_abs_recency_diff_days = maxRecency,
                unassigned,
                model_version = list.ModelVersion,
                segment_sizes_sum = list.Segments.Sum(s => s.Size),
                matrix_counts_plus_entries = matrix.Counts.Sum() + matrix.Entries.Sum(),
                history_transitions = historyTransitions,
                histories_out_of_time_order = outOfOrder,
            };
            Common.PrintJson(report);
            var ok = found == expected.Count && frequencyMismatches == 0 && maxMonetary < 0.005 && maxRecency <= 1e-6
                && unassigned == 0 && report.segment_sizes_sum == expected.Count && report.matrix_counts_plus_entries == historyTransitions
                && outOfOrder == 0;
            Console.Error.WriteLine(ok ? "verify: OK" : "verify: MISMATCH");
            return ok ? 0 : 1;
        });
        return new Command("verify", "Verify the server against a source log") { cdnow };
    }
}
