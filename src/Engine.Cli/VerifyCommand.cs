using System.CommandLine;
using Engine.Api.V1;

namespace Engine.Cli;

/// <summary>
/// `engine verify cdnow FILE`: compares every customer's RFM from the server with a direct computation from the file
/// and checks the population invariants (every customer segmented, sizes add up, matrix = histories, for the learned and
/// the named RFM segments alike); it reports the customers whose last RFM move is not to the RFM segment they are in.
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
            var channel = Common.Channel(parse);
            var segments = new SegmentService.SegmentServiceClient(channel);
            var models = new ModelService.ModelServiceClient(channel);
            var deadline = DateTime.UtcNow + Durations.Parse(parse.GetValue(wait)!, "--wait");
            var report = await PassAsync(segments, models, expected, ct);
            // A pass reads histories, then sizes and the matrix: while a rollout or a sweep moves customers they disagree
            // by the moves made in between. Judged once a pass starts and ends on the same matrix with no customer left for a
            // model's rollout to assign, or at the deadline.
            while (!report.Settled && DateTime.UtcNow < deadline)
            {
                Console.Error.WriteLine("verify: the engine is still moving customers (a rollout or sweep); checking again");
                await Task.Delay(TimeSpan.FromSeconds(2), ct);
                report = await PassAsync(segments, models, expected, ct);
            }
            Common.PrintJson(report.Json);
            Console.Error.WriteLine(report.Ok ? "verify: OK" : "verify: MISMATCH");
            return report.Ok ? ExitCodes.Ok : ExitCodes.Failure;
        });
        return new Command("verify", "Verify the server against a source log") { cdnow };
    }

    private sealed record Report(object Json, bool Ok, bool Settled);

    private static async Task<Report> PassAsync(SegmentService.SegmentServiceClient segments, ModelService.ModelServiceClient models,
        Dictionary<string, (double RecencyDays, long Frequency, double Monetary)> expected, CancellationToken ct)
    {
        var before = await MatrixTotalAsync(segments, SegmentKind.Learned, ct) + await MatrixTotalAsync(segments, SegmentKind.Rfm, ct);
        double maxRecency = 0, maxMonetary = 0;
        long frequencyMismatches = 0, unassigned = 0, found = 0, historyTransitions = 0, rfmHistoryTransitions = 0, outOfOrder = 0, rfmSegmentMismatches = 0;
        foreach (var chunk in expected.Keys.Chunk(1000))
        {
            var request = new BatchGetCustomersRequest();
            request.CustomerIds.AddRange(chunk);
            var response = await segments.BatchGetCustomersAsync(request, cancellationToken: ct);
            var histories = (await Task.WhenAll(chunk.Select(id => segments.GetHistoryAsync(
                new GetHistoryRequest { CustomerId = id, Kinds = { SegmentKind.Learned, SegmentKind.Rfm } }, cancellationToken: ct).ResponseAsync)))
                .Select((h, i) => (Id: chunk[i], h.Transitions)).ToDictionary(h => h.Id, h => h.Transitions);
            foreach (var c in response.Customers)
            {
                var lastRfm = histories[c.CustomerId].FirstOrDefault(t => t.Kind == SegmentKind.Rfm)?.ToSegmentId ?? "";
                rfmSegmentMismatches += lastRfm == c.RfmSegmentId ? 0 : 1;
                found++;
                var (recency, frequency, monetary) = expected[c.CustomerId];
                maxRecency = Math.Max(maxRecency, Math.Abs(recency - c.Rfm.RecencyDays));
                maxMonetary = Math.Max(maxMonetary, Math.Abs(monetary - c.Rfm.Monetary));
                frequencyMismatches += frequency == c.Rfm.Frequency ? 0 : 1;
                unassigned += c.SegmentId == "unassigned" ? 1 : 0;
            }
            historyTransitions += histories.Values.Sum(h => h.Count(t => t.Kind == SegmentKind.Learned));
            rfmHistoryTransitions += histories.Values.Sum(h => h.Count(t => t.Kind == SegmentKind.Rfm));
            // Newest first: each move dated no earlier than the one before it, whatever its kind.
            outOfOrder += histories.Values.Count(h => h.Zip(h.Skip(1)).Any(p => p.First.At.ToDateTime() < p.Second.At.ToDateTime()));
        }
        var list = await segments.ListSegmentsAsync(new ListSegmentsRequest(), cancellationToken: ct);
        var rfm = await RfmCheckAsync(segments, models, expected, ct);
        var (learnedAfter, rfmAfter) = (await MatrixTotalAsync(segments, SegmentKind.Learned, ct), await MatrixTotalAsync(segments, SegmentKind.Rfm, ct));
        var sizes = list.Segments.Sum(s => s.Size);
        var ok = found == expected.Count && frequencyMismatches == 0 && maxMonetary < 0.005 && maxRecency <= 1e-6
            && unassigned == 0 && sizes == expected.Count && learnedAfter == historyTransitions && outOfOrder == 0
            && rfm.ScoreMismatches == 0 && rfm.CutPointsMatch != false && rfmAfter == rfmHistoryTransitions;
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
            matrix_counts_plus_entries = learnedAfter,
            history_transitions = historyTransitions,
            histories_out_of_time_order = outOfOrder,
            rfm_cut_points_match = rfm.CutPointsMatch,
            rfm_score_mismatches = rfm.ScoreMismatches,
            rfm_matrix_counts_plus_entries = rfmAfter,
            rfm_history_transitions = rfmHistoryTransitions,
            // Reported, not judged: a customer whose recency reached a cut point after the last sweep (a sweep put off
            // while a rollout held it, at the end of an import in event time) has its RFM move at the next sweep, which
            // in event time comes with the next batch or within seconds once no batch comes (the settling sweep), and a
            // pass in between counts it.
            rfm_segment_mismatches = rfmSegmentMismatches,
        };
        // Customers still unassigned under a model are not settled either: the model's rollout leaves them to ingest for
        // a while before it asks them, and after an import in event time no ingest comes, so nothing moves meanwhile.
        var waitingForRollout = unassigned > 0 && list.ModelVersion > 0;
        return new Report(json, ok, ok || (before == learnedAfter + rfmAfter && !waitingForRollout));
    }

    /// <summary>
    /// RFM against the file: every customer's scores against the model's cut points, computed directly from the file's
    /// values (in single precision, as the engine documents); and, when the model was trained at the file's end over all
    /// its buyers (a retrain after the import, in event time), the cut points themselves (null otherwise: they are of
    /// another instant or population).
    /// </summary>
    private static async Task<(bool? CutPointsMatch, long ScoreMismatches)> RfmCheckAsync(SegmentService.SegmentServiceClient segments, ModelService.ModelServiceClient models,
        Dictionary<string, (double RecencyDays, long Frequency, double Monetary)> expected, CancellationToken ct)
    {
        var model = await models.GetModelAsync(new GetModelRequest(), cancellationToken: ct);
        if (model.RfmCutPoints is not { } cuts)
        {
            return (null, 0);
        }
        var values = expected.Where(e => e.Value.Frequency > 0)
            .ToDictionary(e => e.Key, e => ((float)e.Value.RecencyDays, (float)e.Value.Frequency, (float)e.Value.Monetary));
        var mismatches = 0L;
        foreach (var chunk in values.Keys.Chunk(1000))
        {
            var request = new BatchGetCustomersRequest();
            request.CustomerIds.AddRange(chunk);
            foreach (var c in (await segments.BatchGetCustomersAsync(request, cancellationToken: ct)).Customers)
            {
                var (r, f, m) = values[c.CustomerId];
                var expectedScores = (1 + cuts.RecencyDays.Count(x => r < x), 1 + cuts.Frequency.Count(x => f > x), 1 + cuts.Monetary.Count(x => m > x));
                mismatches += expectedScores == (c.RScore, c.FScore, c.MScore) ? 0 : 1;
            }
        }
        bool? match = null;
        // Comparable only when taken at the same instant over the same customers: a model trained while the import was
        // still arriving has cut points of another population.
        if (expected.Count > 0 && cuts.Customers == values.Count && (await segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = expected.Keys.First() }, cancellationToken: ct)).AsOf.Equals(model.TrainedAt))
        {
            static double[] Quantiles(float[] v)
            {
                Array.Sort(v);
                return [.. Enumerable.Range(1, 4).Select(k => (double)v[(int)(((long)k * v.Length + 4) / 5) - 1])];
            }
            match = Quantiles([.. values.Values.Select(v => v.Item1)]).SequenceEqual(cuts.RecencyDays)
                && Quantiles([.. values.Values.Select(v => v.Item2)]).SequenceEqual(cuts.Frequency)
                && Quantiles([.. values.Values.Select(v => v.Item3)]).SequenceEqual(cuts.Monetary);
        }
        return (match, mismatches);
    }

    /// <summary>Every move of one kind the transition matrix has counted: between segments, and first assignments (entries).</summary>
    private static async Task<long> MatrixTotalAsync(SegmentService.SegmentServiceClient segments, SegmentKind kind, CancellationToken ct)
    {
        var matrix = await segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest { Kind = kind }, cancellationToken: ct);
        return matrix.Counts.Sum() + matrix.Entries.Sum();
    }
}
