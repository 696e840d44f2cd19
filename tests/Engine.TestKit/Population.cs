using Engine.Api.V1;

namespace Engine.TestKit;

/// <summary>What a user would check across the whole population, shared by the segmentation and crash tests.</summary>
public static class Population
{
    /// <summary>
    /// Synthetic customers ingested and segmented by a first model of <paramref name="k"/> segments, so every customer's
    /// first assignment is a RETRAIN transition (an alert).
    /// </summary>
    public static async Task<Synthetic> SegmentedAsync(EngineServer server, int customers, int seed, int k = 3, int batch = 1_000)
    {
        var data = Synthetic.Generate(customers, seed);
        await server.IngestAllAsync(data.Events, batch);
        await server.Models.RetrainAsync(new RetrainRequest { K = k });
        return data;
    }

    /// <summary>
    /// Waits until a model of at least <paramref name="atLeast"/> is published and, when <paramref name="customers"/> is
    /// given, its reassignment sweep has placed all of them (a model is visible before its sweep ends).
    /// </summary>
    public static async Task<long> WaitForModelAsync(EngineServer server, long atLeast = 1, int seconds = 90, int? customers = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            var segments = await server.Segments.ListSegmentsAsync(new ListSegmentsRequest());
            if (segments.ModelVersion >= atLeast && (customers is null || segments.Segments.Sum(s => s.Size) == customers))
            {
                return segments.ModelVersion;
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"no model version >= {atLeast} after {seconds} s");
    }

    public static async Task<List<Customer>> CustomersAsync(EngineServer server, IEnumerable<string> ids)
    {
        var all = new List<Customer>();
        foreach (var chunk in ids.Chunk(1000))
        {
            var request = new BatchGetCustomersRequest();
            request.CustomerIds.AddRange(chunk);
            var response = await server.Segments.BatchGetCustomersAsync(request);
            Assert.Empty(response.NotFound);
            all.AddRange(response.Customers);
        }
        return all;
    }

    /// <summary>Every customer's retained history, newest first: its learned moves, or the moves of <paramref name="kinds"/>.</summary>
    public static async Task<Dictionary<string, List<Transition>>> HistoriesAsync(EngineServer server, IEnumerable<string> ids, params SegmentKind[] kinds)
    {
        var histories = new Dictionary<string, List<Transition>>();
        foreach (var id in ids)
        {
            histories[id] = (await server.Segments.GetHistoryAsync(new GetHistoryRequest { CustomerId = id, Kinds = { kinds } })).Transitions.ToList();
        }
        return histories;
    }

    /// <summary>The matrix over all time accounts for exactly the transitions in the histories.</summary>
    public static async Task AssertMatrixMatchesHistoriesAsync(EngineServer server, IReadOnlyCollection<string> ids)
    {
        var histories = await HistoriesAsync(server, ids);
        var matrix = await server.Segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest());
        Assert.Equal(histories.Values.Sum(h => h.Count), matrix.Counts.Sum() + matrix.Entries.Sum());
        Assert.Equal(histories.Values.Sum(h => h.Count(t => t.FromSegmentId == "unassigned")), matrix.Entries.Sum());
        Assert.Equal(ids.Count, histories.Values.Count(h => h.Count > 0 && h[^1].FromSegmentId == "unassigned"));
    }
}
